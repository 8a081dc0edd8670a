"""Code verifier: extract the program from a response, run it against the question's tests in
the sandbox, and return one Verdict.

    async with open_pool() as pool:
        verdict = await CodeVerifier(pool).verify(response, question.tests)

stdin/stdout tests run as one batch (compiled once, stopped at the first failure) and are
compared by ``verifiers.code.compare``; function-call tests run as one harness program
(``verifiers.code.tests``). Sandbox failures come back as ``infra_error``, never as a wrong
answer.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from sandbox import Limits, Pool, Program, RunResult
from verifiers.code.compare import Checker, compare_outputs
from verifiers.code.extract import extract_program
from verifiers.code.tests import (
    ASSERT_FAILURE,
    ERROR_IN_TEST,
    SOLUTION_SYNTAX_EXIT,
    CheckTests,
    StdioCase,
    StdioTests,
    harness_program,
    parse_tests,
)
from verifiers.verdict import Verdict

STDERR_EXCERPT = 300


class CodeVerifier:
    """Verifies code answers through a sandbox pool.

    limits: per test (CPU and wall time, memory, output); function-call tests run in one
    process, so there they bound the whole check. program_time_s: wall-time budget of all
    tests of one answer together. case_insensitive: YES matches yes. checker: replaces the
    token comparison (for problems with several right answers).
    """

    def __init__(
        self,
        pool: Pool,
        *,
        limits: Limits | None = None,
        program_time_s: float | None = None,
        case_insensitive: bool = False,
        checker: Checker | None = None,
    ) -> None:
        self.pool = pool
        self.limits = limits or Limits()
        self.program_time_s = program_time_s
        self.case_insensitive = case_insensitive
        self.checker = checker

    async def verify(
        self,
        response: str,
        tests: Any,
        *,
        language: str | None = None,
        limits: Limits | None = None,
    ) -> Verdict:
        """Verdict for a model response; ``language`` None means the fenced block decides."""
        suite = parse_tests(tests)
        if isinstance(suite, CheckTests):
            language = "python"  # function-call tests call Python functions
        extracted = extract_program(response, language, suite.entry)
        if extracted is None:
            wanted = f" {language}" if language else ""
            return Verdict("no_answer", method="fenced_block", detail=f"no{wanted} code block")
        program = Program(extracted.language, extracted.source)
        verdict, _ = await self._run(program, suite, limits or self.limits)
        method = f"{extracted.method}:{extracted.language}"
        return msgspec.structs.replace(verdict, answer=extracted.source, method=method)

    async def scaled_limits(
        self,
        reference: str,
        tests: Any,
        *,
        language: str = "python",
        factor: float = 3.0,
        floor_s: float = 0.5,
    ) -> Limits:
        """Per-test limits scaled to a reference solution (source code): ``factor`` times the
        CPU time of its slowest test, at least ``floor_s``. It must pass its own tests."""
        verdict, runs = await self._run(
            Program(language, reference), parse_tests(tests), self.limits
        )
        if not verdict.passed:
            raise ValueError(f"the reference solution fails its own tests: {verdict.detail}")
        slowest = max(run.cpu_s for run in runs)
        return msgspec.structs.replace(self.limits, time_s=max(floor_s, factor * slowest))

    async def _run(
        self, program: Program, suite: StdioTests | CheckTests, limits: Limits
    ) -> tuple[Verdict, list[RunResult]]:
        if isinstance(suite, StdioTests):
            return await self._stdio(program, suite, limits)
        return await self._check(program, suite, limits)

    # -- stdin/stdout

    async def _stdio(
        self, program: Program, suite: StdioTests, limits: Limits
    ) -> tuple[Verdict, list[RunResult]]:
        cases = suite.cases

        def failed(index: int, result: RunResult) -> bool:
            return self._judge_case(index, cases[index], result) is not None

        batch = await self.pool.run_batch(
            program,
            [case.input for case in cases],
            limits,
            stop_when=failed,
            total_wall_s=self.program_time_s,
        )
        if not batch.compile.ok:
            return _failure(batch.compile, None), []
        for index, result in enumerate(batch.runs):
            verdict = self._judge_case(index, cases[index], result)
            if verdict is not None:
                return verdict, batch.runs
        return Verdict("passed", detail=f"{len(cases)} tests passed"), batch.runs

    def _judge_case(self, index: int, case: StdioCase, result: RunResult) -> Verdict | None:
        if not result.ok:
            return _failure(result, index)
        if self.checker is not None:
            if self.checker(case.input, case.output, result.stdout):
                return None
            detail = f"test {index}: rejected by the checker"
        else:
            mismatch = compare_outputs(
                case.output, result.stdout, case_insensitive=self.case_insensitive
            )
            if mismatch is None:
                return None
            detail = f"test {index}: {mismatch.describe()}"
        return Verdict("wrong_answer", detail=detail, test_index=index)

    # -- function-call tests

    async def _check(
        self, program: Program, suite: CheckTests, limits: Limits
    ) -> tuple[Verdict, list[RunResult]]:
        nonce = secrets.token_hex(16)
        harness = Program("python", harness_program(program.source, suite))
        result = await self.pool.run(harness, nonce + "\n", limits)
        return _judge_check(result, nonce, suite), [result]


def _judge_check(result: RunResult, nonce: str, suite: CheckTests) -> Verdict:
    if result.ok:
        if result.stdout.rstrip().rpartition("\n")[2] == nonce:
            return Verdict("passed", detail=f"{suite.asserts} asserts passed")
        return Verdict("wrong_answer", detail="the program exited before its tests finished")
    if result.status == "runtime_error" and result.exit_code == SOLUTION_SYNTAX_EXIT:
        return Verdict("compile_error", detail=_excerpt(result.stderr))
    failure = ASSERT_FAILURE.search(result.stderr)
    if result.status == "runtime_error" and failure:
        index = int(failure.group(1))
        return Verdict("wrong_answer", detail=f"test {index}: {failure.group(2)}", test_index=index)
    errored = ERROR_IN_TEST.search(result.stderr)
    return _failure(result, int(errored.group(1)) if errored else None)


def _failure(result: RunResult, index: int | None) -> Verdict:
    """Verdict for a run that did not finish normally (or a compilation that failed)."""
    where = f"test {index}: " if index is not None else ""
    detail = where + (result.detail or result.status)
    if result.stderr.strip():
        detail += "\n" + _excerpt(result.stderr, head=result.status == "compile_error")
    return Verdict(result.status, detail=detail, test_index=index)


def _excerpt(stderr: str, head: bool = False) -> str:
    """Compilers say the first error first; tracebacks end with theirs."""
    text = stderr.strip()
    if len(text) <= STDERR_EXCERPT:
        return text
    return text[:STDERR_EXCERPT] + "..." if head else "..." + text[-STDERR_EXCERPT:]
