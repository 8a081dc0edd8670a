"""Call-based tests (LiveCodeBench's "functional" problems) through the Docker sandbox: each case
calls ``Solution().fn_name(*args)`` (or a top-level function) in a process of its own under the
per-test limits, the result is compared as JSON on the host, and the first failure stops."""

from __future__ import annotations

import json

import pytest

from sandbox import Limits, Pool, Program
from verifiers.code import CodeVerifier
from verifiers.code.tests import parse_tests

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="session")]

LIMITS = Limits(time_s=1, wall_s=10)
#: LiveCodeBench's layout: one JSON value per line of input, one per argument
MAX_SUM = {
    "call": {
        "fn_name": "maxSum",
        "cases": [
            {"input": "[1, 2, 3]\n2", "output": "5"},
            {"input": "[5, -1, 5]\n1", "output": "5"},
            {"input": "[-3, -2]\n2", "output": "-5"},
            {"input": "[4]\n1", "output": "4"},
        ],
    }
}
STARTER = "class Solution:\n    def maxSum(self, nums: List[int], k: int) -> int:\n"


def solution(body: str) -> Program:
    return Program("python", STARTER + body)


@pytest.fixture
def verifier(docker_pool: Pool) -> CodeVerifier:
    return CodeVerifier(docker_pool, limits=LIMITS)


async def test_a_right_class_solution_passes(verifier: CodeVerifier) -> None:
    right = solution("        return sum(sorted(nums)[-k:])\n")
    verdict = await verifier.verify_program(right, MAX_SUM)
    assert (verdict.status, verdict.detail) == ("passed", "4 tests passed"), verdict
    assert verdict.method == "program:python" and verdict.answer == right.source


async def test_a_top_level_function_is_called_when_there_is_no_class(
    verifier: CodeVerifier,
) -> None:
    program = Program("python", "def maxSum(nums, k):\n    return sum(sorted(nums)[-k:])\n")
    assert (await verifier.verify_program(program, MAX_SUM)).status == "passed"


async def test_a_model_response_is_extracted_past_its_usage_example(
    verifier: CodeVerifier,
) -> None:
    response = (
        "<think>Take the k largest.</think>\n```python\n" + STARTER
        + "        return sum(sorted(nums)[-k:])\n```\nExample:\n"
        "```python\nprint(Solution().maxSum([1, 2, 3], 2))\n```"
    )  # fmt: skip
    verdict = await verifier.verify(response, MAX_SUM)
    assert (verdict.status, verdict.method) == ("passed", "fenced:python"), verdict


async def test_a_wrong_answer_names_the_first_failing_test(verifier: CodeVerifier) -> None:
    wrong = solution("        return sum(nums[:k])\n")
    verdict = await verifier.verify_program(wrong, MAX_SUM)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 0)
    assert verdict.detail == "test 0: expected 5, got 3"
    late = solution("        return sum(sorted(nums)[-k:]) if len(nums) > 1 else 0\n")
    verdict = await verifier.verify_program(late, MAX_SUM)
    assert (verdict.status, verdict.test_index, verdict.detail) == (
        "wrong_answer",
        3,
        "test 3: expected 4, got 0",
    )


async def test_the_first_failure_stops_the_tests(verifier: CodeVerifier) -> None:
    """Wrong on test 1, an endless loop on every later test: they never run."""
    program = solution(
        "        if nums == [5, -1, 5]:\n            return 0\n"
        "        while len(nums) < 3:\n            pass\n"
        "        return sum(sorted(nums)[-k:])\n"
    )
    verdict, runs = await verifier._run(program, parse_tests(MAX_SUM), LIMITS)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 1)
    assert [run.status for run in runs] == ["ok", "ok"]


async def test_an_exception_names_its_test_and_type(verifier: CodeVerifier) -> None:
    program = solution("        return {1: 0}[len(nums)] + sum(sorted(nums)[-k:])\n")
    verdict = await verifier.verify_program(program, MAX_SUM)
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        0,
        "KeyError",
    )
    assert verdict.detail == "test 0: KeyError: 3"
    assert verdict.traceback is not None
    assert 'File "solution.py", line 3, in maxSum' in verdict.traceback
    assert "main.py" not in verdict.traceback


async def test_a_slow_test_times_out_under_the_per_test_limit(verifier: CodeVerifier) -> None:
    program = solution(
        "        while k == 1 and len(nums) == 3:\n            pass\n"
        "        return sum(sorted(nums)[-k:])\n"
    )
    limits = Limits(time_s=0.3, wall_s=10)
    verdict = await verifier.verify_program(program, MAX_SUM, limits=limits)
    assert (verdict.status, verdict.test_index) == ("timeout", 1), verdict
    assert "CPU time limit of 0.3 s" in verdict.detail


@pytest.mark.parametrize(
    ("returned", "expected", "status", "detail"),
    [
        ("0.1 + 0.2", "0.3", "passed", ""),
        ("2", "2.0", "passed", ""),
        ("1 / 3", "0.333333", "passed", ""),  # within 1e-6
        ("0.31", "0.3", "wrong_answer", "expected 0.3, got 0.31"),
        ("(1, 2)", "[1, 2]", "passed", ""),
        ("[[1, 2.0000000001], {'a': None}]", '[[1, 2], {"a": null}]', "passed", ""),
        ("[[1, 2], [3]]", "[[1, 2], [4]]", "wrong_answer", "at [1][0]: expected 4, got 3"),
        ("[1, 2]", "[1, 2, 3]", "wrong_answer", "expected [1,2,3], got [1,2]"),
        ("1", "true", "wrong_answer", "expected true, got 1"),
        ("True", "true", "passed", ""),
        ("'abc'", '"abc"', "passed", ""),
        ("'ABC'", '"abc"', "wrong_answer", 'expected "abc", got "ABC"'),
        ("{1, 2}", "[1, 2]", "wrong_answer", "returned a set, not a JSON value"),
        ("float('nan')", "0", "wrong_answer", "returned a float, not a JSON value"),
        ("10 ** 30", "1000000000000000000000000000000", "passed", ""),
    ],
)
async def test_results_are_compared_as_json(
    verifier: CodeVerifier, returned: str, expected: str, status: str, detail: str
) -> None:
    tests = {"call": {"fn_name": "f", "cases": [{"input": "", "output": expected}]}}
    verdict = await verifier.verify_program(
        Program("python", f"def f():\n    return {returned}"), tests
    )
    assert verdict.status == status, verdict
    if detail:
        assert verdict.detail == f"test 0: {detail}"


async def test_arguments_are_fresh_values_per_test(verifier: CodeVerifier) -> None:
    """A solution may change its arguments; every test decodes its own."""
    tests = {
        "call": {
            "fn_name": "pop_all",
            "cases": [{"input": json.dumps([1, 2]), "output": "2"}] * 3,
        }
    }
    source = "def pop_all(items):\n    n = len(items)\n    items.clear()\n    return n\n"
    assert (await verifier.verify_program(Program("python", source), tests)).status == "passed"


async def test_livecodebench_prelude_names_are_available(verifier: CodeVerifier) -> None:
    program = solution(
        "        @lru_cache(None)\n"
        "        def best(i, left):\n"
        "            if left == 0:\n                return 0\n"
        "            if i == len(nums):\n                return -inf\n"
        "            return max(best(i + 1, left), nums[i] + best(i + 1, left - 1))\n"
        "        q = deque(nums)\n"
        "        assert sqrt(4) == 2 and isinstance(sys.maxsize, int) and len(q) == len(nums)\n"
        "        return best(0, k)\n"
    )
    verdict = await verifier.verify_program(program, MAX_SUM)
    assert verdict.status == "passed", verdict


@pytest.mark.parametrize(
    ("source", "status", "exception", "detail"),
    [
        (
            "def other(nums, k):\n    return 0",
            "runtime_error",
            "NameError",
            "test 0: NameError: the solution defines neither Solution.maxSum nor a function maxSum",
        ),
        ("def maxSum(nums, k)\n    return 0", "compile_error", None, "SyntaxError"),
        ("def maxSum(nums, k):\n    return int(input())", "runtime_error", "EOFError", ""),
        ("import sys\nsys.exit(0)", "wrong_answer", None, "test 0: the program exited before"),
        ("x = [0] * (1 << 30)", "memory_limit", "MemoryError", ""),
    ],
)
async def test_programs_that_never_return(
    verifier: CodeVerifier, source: str, status: str, exception: str | None, detail: str
) -> None:
    verdict = await verifier.verify_program(Program("python", source), MAX_SUM)
    assert (verdict.status, verdict.exception) == (status, exception), verdict
    assert detail in verdict.detail


async def test_call_tests_need_a_python_program(verifier: CodeVerifier) -> None:
    with pytest.raises(ValueError, match="call Python functions, not cpp ones"):
        await verifier.verify_program(Program("cpp", "int main() {}"), MAX_SUM)
