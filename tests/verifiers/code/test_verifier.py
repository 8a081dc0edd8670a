"""CodeVerifier end to end through the Docker sandbox: every verdict, with its test index and
excerpt, for stdin/stdout tests, LeetCode-style functional tests and assert programs."""

from __future__ import annotations

import pytest

from sandbox import Limits, Pool
from tests.helpers import TIGHT
from verifiers.code import CodeVerifier

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="session")]

SUM_TESTS = [
    {"input": "1 2\n", "output": "3\n"},
    {"input": "10 20\n", "output": "30\n"},
    {"input": "-5 5\n", "output": "0\n"},
]
ADD_FUNCTIONAL = {
    "functional": "def check(candidate):\n"
    "    assert candidate(a=1, b=2) == 3\n"
    "    assert candidate(a=2, b=2) == 4\n"
    "    assert candidate(a=-1, b=1) == 0\n\n"
    "check(Solution().add)"
}


def py(source: str) -> str:
    return f"Here is my solution.\n```python\n{source}\n```\n"


def cpp(source: str) -> str:
    return f"```cpp\n{source}\n```"


@pytest.fixture
def verifier(docker_pool: Pool) -> CodeVerifier:
    return CodeVerifier(docker_pool, limits=TIGHT)


# -- stdin/stdout


async def test_stdio_python_passes(verifier: CodeVerifier) -> None:
    verdict = await verifier.verify(py("a, b = map(int, input().split())\nprint(a + b)"), SUM_TESTS)
    assert verdict.status == "passed", verdict
    assert (verdict.method, verdict.detail) == ("fenced:python", "3 tests passed")
    assert verdict.answer == "a, b = map(int, input().split())\nprint(a + b)\n"


async def test_stdio_cpp_passes_with_the_language_inferred(verifier: CodeVerifier) -> None:
    source = "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b;}"
    verdict = await verifier.verify(cpp(source), SUM_TESTS)
    assert (verdict.status, verdict.method) == ("passed", "fenced:cpp"), verdict


async def test_wrong_answer_names_the_first_failing_test(verifier: CodeVerifier) -> None:
    source = "a, b = map(int, input().split())\nprint(a + b if a > 0 else 1)"
    verdict = await verifier.verify(py(source), SUM_TESTS)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 2)
    assert verdict.detail == "test 2: token 1: expected '0', got '1'"


async def test_partial_output_is_a_wrong_answer(verifier: CodeVerifier) -> None:
    tests = [{"input": "3\n", "output": "1 2 3\n"}]
    verdict = await verifier.verify(py("print(1, 2)"), tests)
    assert verdict.status == "wrong_answer"
    assert "expected '3', got end of output" in verdict.detail


@pytest.mark.parametrize(
    ("source", "status", "excerpt"),
    [
        ("x = int(input())\nprint(10 // (x - 1))", "runtime_error", "ZeroDivisionError"),
        ("x = input()\nwhile True:\n    pass", "timeout", "CPU time limit"),
        ("x = input()\nimport time\ntime.sleep(60)", "timeout", "wall time limit"),
        ("x = [0] * (1 << 30)", "memory_limit", "MemoryError"),
        ("while True:\n    print('=' * 80)", "output_limit", "output limit"),
        ("def broken(:", "compile_error", "SyntaxError"),
    ],
)
async def test_failures_get_their_verdict_and_an_excerpt(
    verifier: CodeVerifier, source: str, status: str, excerpt: str
) -> None:
    tests = [{"input": "2\n", "output": "10\n"}, {"input": "1\n", "output": "1\n"}]
    # a generous wall clock, so that on a busy machine the CPU limit is what ends a busy loop
    limits = Limits(time_s=1, wall_s=1.5 if "sleep" in source else 20, memory_mb=256)
    verdict = await verifier.verify(py(source), tests, limits=limits)
    assert verdict.status == status, verdict
    assert excerpt in verdict.detail
    expected_index = {"runtime_error": 1, "compile_error": None}.get(status, 0)
    assert verdict.test_index == expected_index


async def test_cpp_compile_error_shows_the_compiler_message(verifier: CodeVerifier) -> None:
    verdict = await verifier.verify(cpp("int main() { return missing; }"), SUM_TESTS)
    assert verdict.status == "compile_error" and "missing" in verdict.detail


async def test_no_code_block_is_no_answer(verifier: CodeVerifier) -> None:
    verdict = await verifier.verify("The answer is to add the numbers.", SUM_TESTS)
    assert (verdict.status, verdict.detail) == ("no_answer", "no code block")
    verdict = await verifier.verify(cpp("int main() {}"), SUM_TESTS, language="python")
    assert (verdict.status, verdict.detail) == ("no_answer", "no python code block")


async def test_codecontests_columns_and_case_insensitive_policy(docker_pool: Pool) -> None:
    tests = {"inputs": ["4\n", "7\n"], "outputs": ["YES\n", "NO\n"]}
    source = "print('yes' if int(input()) % 2 == 0 else 'no')"
    strict = await CodeVerifier(docker_pool).verify(py(source), tests)
    assert (strict.status, strict.test_index) == ("wrong_answer", 0)
    lenient = await CodeVerifier(docker_pool, case_insensitive=True).verify(py(source), tests)
    assert lenient.status == "passed"


async def test_custom_checker_accepts_any_right_answer(docker_pool: Pool) -> None:
    def any_divisor(given: str, _expected: str, got: str) -> bool:
        return got.strip().isdigit() and 1 < int(got) < int(given) and int(given) % int(got) == 0

    tests = [{"input": "12\n", "output": "2\n"}, {"input": "15\n", "output": "3\n"}]
    checked = CodeVerifier(docker_pool, checker=any_divisor)
    largest = "n = int(input())\nprint(max(d for d in range(2, n) if n % d == 0))"
    assert (await checked.verify(py(largest), tests)).status == "passed"
    wrong = await checked.verify(py("print(7)"), tests)
    assert (wrong.status, wrong.detail) == ("wrong_answer", "test 0: rejected by the checker")


async def test_program_time_limit_spans_all_tests(docker_pool: Pool) -> None:
    tests = [{"input": f"{i}\n", "output": f"{i}\n"} for i in range(8)]
    source = "import time\ntime.sleep(0.3)\nprint(input())"
    budget = CodeVerifier(docker_pool, limits=Limits(time_s=1, wall_s=2), program_time_s=1.0)
    verdict = await budget.verify(py(source), tests)
    assert verdict.status == "timeout" and "program time limit" in verdict.detail
    # 0.3 s of sleep each: however fast the machine, a fourth test cannot end within 1 s
    assert verdict.test_index is not None and verdict.test_index <= 3


async def test_limits_scaled_to_a_reference_solution(verifier: CodeVerifier) -> None:
    n = 5_000_000
    tests = [{"input": f"{n}\n", "output": f"{sum(range(n))}\n"}]
    reference = "n = int(input())\nprint(sum(range(n)))"
    limits = await verifier.scaled_limits(reference, tests, factor=3.0, floor_s=0.1)
    assert 0.1 <= limits.time_s < TIGHT.time_s
    slow = "n = int(input())\ntotal = 0\nfor i in range(n):\n    total += i\nfor i in range(n):\n"
    slow += "    total += 0\nfor i in range(n):\n    total += 0\nprint(total)"
    verdict = await verifier.verify(py(slow), tests, limits=limits)
    assert verdict.status == "timeout", verdict
    assert (await verifier.verify(py(reference), tests, limits=limits)).status == "passed"
    with pytest.raises(ValueError, match="fails its own tests"):
        await verifier.scaled_limits("print(0)", tests)


# -- function-call tests


async def test_functional_tests_pass(verifier: CodeVerifier) -> None:
    solution = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b"
    verdict = await verifier.verify(py(solution), ADD_FUNCTIONAL)
    assert (verdict.status, verdict.detail) == ("passed", "3 asserts passed"), verdict


async def test_functional_failure_names_the_assert_with_expected_and_got(
    verifier: CodeVerifier,
) -> None:
    solution = "class Solution:\n    def add(self, a, b):\n        return a + b if a > 0 else 7"
    verdict = await verifier.verify(py(solution), ADD_FUNCTIONAL)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 2)
    assert verdict.detail == "test 2: expected 0, got 7"


async def test_functional_exception_names_the_test_it_happened_in(verifier: CodeVerifier) -> None:
    solution = "class Solution:\n    def add(self, a, b):\n        return [a][b]"
    verdict = await verifier.verify(py(solution), ADD_FUNCTIONAL)
    assert (verdict.status, verdict.test_index) == ("runtime_error", 0), verdict
    assert "IndexError" in verdict.detail


async def test_functional_syntax_error_is_a_compile_error(verifier: CodeVerifier) -> None:
    verdict = await verifier.verify(
        py("class Solution:\n    def add(self, a, b)\n"), ADD_FUNCTIONAL
    )
    assert verdict.status == "compile_error" and "SyntaxError" in verdict.detail


async def test_leetcode_prelude_names_are_available(verifier: CodeVerifier) -> None:
    solution = (
        "class Solution:\n    def add(self, a: int, b: int) -> int:\n"
        "        return sum(Counter([a, b]).elements()) + floor(0.5) * gcd(4, 6)"
    )
    assert (await verifier.verify(py(solution), ADD_FUNCTIONAL)).status == "passed"


@pytest.mark.parametrize(
    "hack",
    [
        "import sys\nsys.exit(0)",
        "import os\nos._exit(0)",
        "class Solution:\n    def add(self, a, b):\n        raise SystemExit(0)",
    ],
)
async def test_exiting_before_the_tests_is_not_a_pass(verifier: CodeVerifier, hack: str) -> None:
    verdict = await verifier.verify(py(hack), ADD_FUNCTIONAL)
    assert verdict.status == "wrong_answer", verdict
    assert "exited before its tests finished" in verdict.detail


async def test_an_object_equal_to_everything_is_not_a_pass(verifier: CodeVerifier) -> None:
    hack = (
        "class Anything:\n    def __eq__(self, other):\n        return True\n"
        "class Solution:\n    def add(self, a, b):\n        return Anything()"
    )
    verdict = await verifier.verify(py(hack), ADD_FUNCTIONAL)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 0)
    assert "defines its own ==" in verdict.detail


async def test_mbpp_style_assert_program(verifier: CodeVerifier) -> None:
    tests = "assert is_even(2) == True\nassert is_even(3) == False\nassert not is_even(5)"
    right = await verifier.verify(py("def is_even(n):\n    return n % 2 == 0"), tests)
    assert (right.status, right.detail) == ("passed", "3 asserts passed")
    wrong = await verifier.verify(py("def is_even(n):\n    return n % 3 == 2"), tests)
    assert (wrong.status, wrong.test_index) == ("wrong_answer", 2)
    assert wrong.detail == "test 2: failed: not is_even(5)"


async def test_humaneval_style_check_function(verifier: CodeVerifier) -> None:
    tests = (
        "def check(candidate):\n"
        "    for n in range(10):\n"
        "        assert candidate(n) == n * n\n\n"
        "check(square)"
    )
    assert (await verifier.verify(py("def square(x):\n    return x * x"), tests)).passed
    wrong = await verifier.verify(py("def square(x):\n    return x * x if x < 5 else 0"), tests)
    assert wrong.status == "wrong_answer" and wrong.detail == "test 0: expected 25, got 0"


# -- responses shaped like a reasoning model's (issue 14)

ADD_SOLUTION = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b\n"


@pytest.mark.parametrize(
    ("response", "tests"),
    [
        (  # the solution, then a usage block that would crash on its own
            f"<think>Add them.</think>\n```python\n{ADD_SOLUTION}```\nUsage:\n"
            "```python\nprint(Solution().add(1, 2))\nprint(add(1))\n```",
            ADD_FUNCTIONAL,
        ),
        (
            "```python\na, b = map(int, input().split())\nprint(a + b)\n```\n"
            "Check on the sample:\n```python\nprint(1 + 2)\n```",
            SUM_TESTS,
        ),
        (  # indented inside a numbered list
            "1. Read both numbers.\n2. Print the sum:\n   ```python\n"
            "   a, b = map(int, input().split())\n   if True:\n       print(a + b)\n   ```\n",
            SUM_TESTS,
        ),
        ("```{.python}\n" + ADD_SOLUTION + "```", ADD_FUNCTIONAL),
        ("``` Python3\r\n" + ADD_SOLUTION.replace("\n", "\r\n") + "```\r\n", ADD_FUNCTIONAL),
    ],
)
async def test_reasoning_model_response_shapes_pass(
    verifier: CodeVerifier, response: str, tests
) -> None:
    verdict = await verifier.verify(response, tests)
    assert verdict.status == "passed", verdict


async def test_a_main_guard_runs_for_stdio_tests_but_not_for_function_tests(
    verifier: CodeVerifier,
) -> None:
    stdio = "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n\n"
    stdio += 'if __name__ == "__main__":\n    main()'
    assert (await verifier.verify(py(stdio), SUM_TESTS)).status == "passed"
    demo = ADD_SOLUTION + '\nif __name__ == "__main__":\n    raise SystemExit(Solution().add(1, 1))'
    assert (await verifier.verify(py(demo), ADD_FUNCTIONAL)).status == "passed"
