"""Real data: all 200 LeetCode reference solutions pass their own checks through the Docker
sandbox, and broken variants derived from them fail with the right verdicts."""

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
