"""Verdict details a user can act on, through the Docker sandbox: the exception's type in its own
field, the program's traceback without the harness's frames (with the solution's and the tests'
own lines), the test's assert message, and the failing test also when it raised before its
assert was reached."""

from __future__ import annotations

import pytest

from sandbox import Limits, Pool, Program
from verifiers.code import CodeVerifier

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="session")]

#: assert 0, then a statement that feeds assert 1, then assert 1 with a message
CHECK = {
    "functional": "def check(candidate):\n"
    "    assert candidate(a=1, b=2) == 3\n"
    "    total = candidate(a=4, b=0)\n"
    "    assert total == 4, f'adding zero to 4 gave {total}'\n"
    "\n"
    "check(Solution().add)"
}
#: frames of the sandbox's zygote, and of the harness (which runs as main.py)
SANDBOX_FRAMES = ("_run_python", "<string>")
HARNESS_FRAMES = (*SANDBOX_FRAMES, "main.py", "_eq", "_check")
#: a wall clock generous enough for a loaded machine; a small memory limit for MemoryError
LIMITS = Limits(time_s=5, wall_s=30, memory_mb=256)


@pytest.fixture
def verifier(docker_pool: Pool) -> CodeVerifier:
    return CodeVerifier(docker_pool, limits=LIMITS)


def solution(body: str) -> Program:
    return Program("python", f"class Solution:\n    def add(self, a, b):\n        {body}\n")


def assert_no_harness_frames(traceback: str, frames: tuple[str, ...] = HARNESS_FRAMES) -> None:
    assert traceback.startswith("Traceback (most recent call last):"), traceback
    for frame in frames:
        assert frame not in traceback, (frame, traceback)


async def test_an_exception_in_an_assert_names_its_type_test_and_lines(
    verifier: CodeVerifier,
) -> None:
    verdict = await verifier.verify_program(solution("return [a][b]"), CHECK)
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        0,
        "IndexError",
    )
    assert verdict.detail == "test 0: IndexError: list index out of range"
    assert verdict.traceback is not None
    assert_no_harness_frames(verdict.traceback)
    assert (
        'File "tests.py", line 2, in check\n    assert candidate(a=1, b=2) == 3'
        in verdict.traceback
    )
    assert 'File "solution.py", line 3, in add\n    return [a][b]' in verdict.traceback
    assert verdict.traceback.rstrip().endswith("IndexError: list index out of range")


async def test_an_exception_before_the_assert_names_the_test_it_feeds(
    verifier: CodeVerifier,
) -> None:
    verdict = await verifier.verify_program(solution("return a + b if b else a // b"), CHECK)
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        1,
        "ZeroDivisionError",
    )
    assert verdict.traceback is not None
    assert "line 3, in check\n    total = candidate(a=4, b=0)" in verdict.traceback


async def test_the_asserts_own_message_is_in_the_detail(verifier: CodeVerifier) -> None:
    verdict = await verifier.verify_program(solution("return a + b + (b == 0)"), CHECK)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 1)
    assert verdict.detail == "test 1: expected 4, got 5 (assert message: adding zero to 4 gave 5)"
    assert (verdict.exception, verdict.traceback) == (None, None)


async def test_an_exception_outside_every_test_has_no_test_index(verifier: CodeVerifier) -> None:
    missing = Program(
        "python", "class Solution:\n    def plus(self, a, b):\n        return a + b\n"
    )
    verdict = await verifier.verify_program(missing, CHECK)
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        None,
        "AttributeError",
    )
    assert "'Solution' object has no attribute 'add'" in verdict.detail
    loading = Program("python", "import json\nSETTINGS = json.loads('{')\nclass Solution: pass\n")
    verdict = await verifier.verify_program(loading, CHECK)
    assert (verdict.test_index, verdict.exception) == (None, "json.decoder.JSONDecodeError")
    assert verdict.traceback is not None
    assert_no_harness_frames(verdict.traceback)
    assert 'File "solution.py", line 2, in <module>' in verdict.traceback


async def test_the_solutions_own_failed_assert_is_a_runtime_error(verifier: CodeVerifier) -> None:
    verdict = await verifier.verify_program(solution("assert a > 1, 'a too small'"), CHECK)
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        0,
        "AssertionError",
    )
    assert verdict.detail == "test 0: AssertionError: a too small"


async def test_exception_classes_of_the_solution_are_named_plainly(verifier: CodeVerifier) -> None:
    program = Program(
        "python",
        "class BadInput(ValueError):\n    pass\n\nclass Solution:\n"
        "    def add(self, a, b):\n        raise BadInput(f'no {a}')\n",
    )
    verdict = await verifier.verify_program(program, CHECK)
    assert (verdict.exception, verdict.detail) == ("BadInput", "test 0: BadInput: no 1")


async def test_a_chained_exception_keeps_its_cause(verifier: CodeVerifier) -> None:
    body = "try:\n            return {}[a]\n        except KeyError as e:\n"
    body += "            raise RuntimeError('lookup failed') from e"
    verdict = await verifier.verify_program(solution(body), CHECK)
    assert verdict.exception == "RuntimeError" and verdict.traceback is not None
    assert "KeyError: 1" in verdict.traceback and "direct cause" in verdict.traceback
    assert_no_harness_frames(verdict.traceback)


async def test_deep_recursion_is_a_short_traceback(verifier: CodeVerifier) -> None:
    program = Program(
        "python",
        "class Solution:\n    def add(self, a, b):\n        return self.add(a, b)\n",
    )
    verdict = await verifier.verify_program(program, CHECK)
    assert (verdict.status, verdict.exception) == ("runtime_error", "RecursionError")
    assert verdict.traceback is not None and len(verdict.traceback) <= 4100
    assert verdict.traceback.rstrip().endswith("maximum recursion depth exceeded")


async def test_stdio_python_exception(verifier: CodeVerifier) -> None:
    tests = [{"input": "2\n", "output": "10\n"}, {"input": "1\n", "output": "1\n"}]
    source = "def solve(x):\n    return 10 // (x - 1)\n\nprint(solve(int(input())))\n"
    verdict = await verifier.verify_program(Program("python", source), tests)
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        1,
        "ZeroDivisionError",
    )
    assert verdict.detail == "test 1: ZeroDivisionError: integer division or modulo by zero"
    assert verdict.traceback is not None
    assert_no_harness_frames(verdict.traceback, SANDBOX_FRAMES)
    assert ", line 4, in <module>\n    print(solve(int(input())))" in verdict.traceback
    assert ", line 2, in solve\n    return 10 // (x - 1)" in verdict.traceback


async def test_stdio_memory_error_is_a_memory_limit_with_its_exception(
    verifier: CodeVerifier,
) -> None:
    tests = [{"input": "", "output": ""}]
    verdict = await verifier.verify_program(Program("python", "x = [0] * (1 << 30)"), tests)
    assert (verdict.status, verdict.exception) == ("memory_limit", "MemoryError")


async def test_cpp_exception_type(verifier: CodeVerifier) -> None:
    source = "#include <vector>\nint main() { std::vector<int> v; return v.at(3); }"
    verdict = await verifier.verify_program(Program("cpp", source), [{"input": "", "output": ""}])
    assert (verdict.status, verdict.test_index, verdict.exception) == (
        "runtime_error",
        0,
        "std::out_of_range",
    )
    assert "killed by SIGABRT" in verdict.detail and "_M_range_check" in verdict.detail
    assert verdict.traceback is None


async def test_the_nonce_cannot_be_read_back_from_stdin(verifier: CodeVerifier) -> None:
    """A solution that reads fd 0 again to forge the harness's 'passed' report fails."""
    forger = (
        "import os, sys\n"
        "for path in ('/proc/self/fd/0', 0):\n"
        "    try:\n"
        "        os.lseek(0, 0, 0)\n"
        "        nonce = os.read(0, 64).split(b'\\n')[0].decode()\n"
        "    except OSError:\n"
        "        nonce = ''\n"
        "    print('\\n' + nonce + ' {\"kind\": \"passed\"}', flush=True)\n"
        "os._exit(0)\n"
    )
    verdict = await verifier.verify_program(Program("python", forger), CHECK)
    assert verdict.status == "wrong_answer", verdict
    assert verdict.detail == "the program exited before its tests finished"
