"""Real data: all 200 LeetCode reference solutions pass their own checks through the Docker
sandbox, and broken variants derived from them fail with the right verdicts; the same checks
given as LiveCodeBench call-based tests (arguments as JSON lines) agree."""

from __future__ import annotations

import ast
import asyncio
import json
import re

import pytest

from sandbox import Limits, Pool
from tests.helpers import shared_file
from verifiers.code import CodeVerifier

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="session")]

LIMITS = Limits(time_s=5, wall_s=20)  # references take up to ~1 s; the machine may be busy
LOOP_LIMITS = Limits(time_s=0.5, wall_s=0.5)
# A variant replaces the method that the check calls with a broken one; {body} is indented.
BROKEN = """
_original = Solution.{method}

def _broken(self, *args, **kwargs):
{body}

Solution.{method} = _broken
"""
VARIANTS = {
    "off by one": "    return _original(self, *args, **kwargs) + 1",
    "wrong output": "    _original(self, *args, **kwargs)\n    return ('not', 'the', 'answer')",
    "exception": "    raise RuntimeError('broken on purpose')",
    "infinite loop": "    while True:\n        pass",
}


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return json.loads(shared_file("code/leetcode.json").read_text())


def response(source: str) -> str:
    return f"Here is the solution.\n\n```python\n{source}\n```\n"


def checked_method(problem: dict) -> str:
    return re.search(r"check\(Solution\(\)\.(\w+)\)", problem["tests"]["functional"]).group(1)


def first_expected(problem: dict):
    """The literal the first assert compares with (None when it is not ``== literal``)."""
    tree = ast.parse(problem["tests"]["functional"])
    first = next(node for node in ast.walk(tree) if isinstance(node, ast.Assert))
    test = first.test
    if isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.Eq):
        try:
            return ast.literal_eval(test.comparators[0])
        except ValueError:
            return None
    return None


def call_tests(problem: dict) -> dict:
    """The problem's checks (``assert candidate(name=literal, ...) == literal``) in
    LiveCodeBench's call-based layout: the arguments in the order of the reference method's
    parameters, one JSON value per line."""
    method = checked_method(problem)
    [definition] = [
        node
        for node in ast.walk(ast.parse(problem["solutions"]))
        if isinstance(node, ast.FunctionDef) and node.name == method
    ]
    parameters = [argument.arg for argument in definition.args.args[1:]]
    cases = []
    for node in ast.walk(ast.parse(problem["tests"]["functional"])):
        if isinstance(node, ast.Assert):
            call, expected = node.test.left, node.test.comparators[0]
            given = {word.arg: ast.literal_eval(word.value) for word in call.keywords}
            arguments = "\n".join(json.dumps(given[name]) for name in parameters)
            cases.append({"input": arguments, "output": json.dumps(ast.literal_eval(expected))})
    return {"call": {"fn_name": method, "cases": cases}}


def broken(problem: dict, variant: str) -> str:
    body = VARIANTS[variant]
    return problem["solutions"] + BROKEN.format(method=checked_method(problem), body=body)


async def test_all_reference_solutions_pass(docker_pool: Pool, problems: list[dict]) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    verdicts = await asyncio.gather(
        *(verifier.verify(response(p["solutions"]), p["tests"]) for p in problems)
    )
    failed = {i: v for i, v in enumerate(verdicts) if not v.passed}
    assert len(problems) == 200 and not failed, failed


async def test_broken_variants_fail_with_the_right_verdicts(
    docker_pool: Pool, problems: list[dict]
) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    cases = []  # (problem, variant, expected status, text the verdict's detail must hold)
    for problem in problems[::4]:
        expected = first_expected(problem)
        if isinstance(expected, int) and not isinstance(expected, bool):
            cases.append((problem, "off by one", "wrong_answer", f"expected {expected}, got"))
        if expected is not None:
            cases.append((problem, "wrong output", "wrong_answer", "got ('not', 'the', 'answer')"))
        cases.append((problem, "exception", "runtime_error", "RuntimeError: broken on purpose"))
    verdicts = await asyncio.gather(
        *(verifier.verify(response(broken(p, variant)), p["tests"]) for p, variant, _, _ in cases)
    )
    assert len(cases) > 100
    for (problem, variant, status, detail), verdict in zip(cases, verdicts, strict=True):
        where = (problems.index(problem), variant, verdict)
        assert verdict.status == status and verdict.test_index == 0, where
        assert detail in verdict.detail, where


async def test_infinite_loop_variants_time_out(docker_pool: Pool, problems: list[dict]) -> None:
    verifier = CodeVerifier(docker_pool, limits=LOOP_LIMITS)
    sample = problems[::20]
    verdicts = await asyncio.gather(
        *(verifier.verify(response(broken(p, "infinite loop")), p["tests"]) for p in sample)
    )
    assert [v.status for v in verdicts] == ["timeout"] * len(sample), verdicts


async def test_all_reference_solutions_pass_as_call_tests(
    docker_pool: Pool, problems: list[dict]
) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    verdicts = await asyncio.gather(
        *(verifier.verify(response(p["solutions"]), call_tests(p)) for p in problems)
    )
    failed = {i: v for i, v in enumerate(verdicts) if not v.passed}
    assert not failed, failed
    assert sum(len(call_tests(p)["call"]["cases"]) for p in problems) > 400


async def test_broken_variants_fail_as_call_tests(docker_pool: Pool, problems: list[dict]) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    sample = problems[::8]
    variants = [(p, v) for p in sample for v in ("off by one", "wrong output", "exception")]
    verdicts = await asyncio.gather(
        *(verifier.verify(response(broken(p, v)), call_tests(p)) for p, v in variants)
    )
    for (problem, variant), verdict in zip(variants, verdicts, strict=True):
        where = (problems.index(problem), variant, verdict)
        if variant == "exception":
            assert (verdict.status, verdict.exception) == ("runtime_error", "RuntimeError"), where
            assert verdict.detail == "test 0: RuntimeError: broken on purpose", where
        elif variant == "wrong output":
            assert verdict.status == "wrong_answer", where
            assert '"not"' in verdict.detail, where
        else:  # off by one: wrong unless the method returns no number
            assert verdict.status in ("wrong_answer", "runtime_error"), where
        assert verdict.test_index == 0, where
