"""Code verifier: run a program against a question's tests in the sandbox; one Verdict.

    async with open_pool() as pool:
        verifier = CodeVerifier(pool)
        verdict = await verifier.verify(response, question.tests)       # a model's response
        verdict = await verifier.verify_program(Program("cpp", source), tests)   # a program

stdin/stdout and call-based tests run as one batch per program (compiled once, one process per
test under the per-test limits, stopped at the first failure); check tests (LeetCode
``functional``, assert programs) run as one process of the harness (``verifiers.code.harness``).
Sandbox failures come back as ``infra_error``, never as a wrong answer. The programs are
untrusted, so the verifier refuses a pool whose backend does not isolate them (``local``)
unless it is made with ``allow_local=True``.
"""

from __future__ import annotations

import ast
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from sandbox import Limits, Pool, Program, RunResult, get_language
from verifiers.code import harness
from verifiers.code.compare import Checker, compare_outputs, compare_values
from verifiers.code.extract import extract_program
from verifiers.code.failure import Raised, failure
from verifiers.code.tests import (
    LIVECODEBENCH_PRELUDE,
    PYTHON_ONLY,
    CallTests,
    CheckTests,
    StdioTests,
    TestSuite,
    expected_values,
    parse_tests,
)
from verifiers.verdict import Verdict


def _compact(source: str) -> str:
    """Python source without its docstrings and comments: the sandbox compiles the harness for
    every test, and compiling costs about a microsecond a byte."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            body[0] = ast.Pass()  # a docstring (or a bare constant: nothing either way)
    return ast.unparse(tree)


HARNESS_SOURCE = _compact(Path(harness.__file__).read_text())
RAISING = ("runtime_error", "memory_limit")

#: judge(index, result) -> the verdict of a failed test, or None when the test passed
Judge = Callable[[int, RunResult], Verdict | None]


class LocalSandboxRefused(RuntimeError):
    """The pool runs programs as plain local processes, and the verifier was not told that
    this is acceptable (``CodeVerifier(pool, allow_local=True)``)."""


class CodeVerifier:
    """Verifies code through a sandbox pool.

    limits: per test (CPU and wall time, memory, output); check tests run in one process, so
    there they bound the whole check. program_time_s: wall-time budget of all tests of one
    program together. case_insensitive: YES matches yes. checker: replaces the token
    comparison (for problems with several right answers). allow_local: accept a pool on the
    ``local`` backend (programs not isolated from this machine: for code you trust).
    """

    def __init__(
        self,
        pool: Pool,
        *,
        limits: Limits | None = None,
        program_time_s: float | None = None,
        case_insensitive: bool = False,
        checker: Checker | None = None,
        allow_local: bool = False,
    ) -> None:
        self.pool = pool
        self.limits = limits or Limits()
        self.program_time_s = program_time_s
        self.case_insensitive = case_insensitive
        self.checker = checker
        self.allow_local = allow_local
        if pool.choice is not None:  # an open pool: refuse now rather than at the first answer
            self._require_isolation()

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
        if isinstance(suite, PYTHON_ONLY):
            language = "python"  # these tests call Python functions
        extracted = extract_program(response, language, suite.entry)
        if extracted is None:
            wanted = f" {language}" if language else ""
            return Verdict("no_answer", method="fenced_block", detail=f"no{wanted} code block")
        program = Program(extracted.language, extracted.source)
        verdict = await self.verify_program(program, suite, limits=limits)
        return msgspec.structs.replace(verdict, method=f"{extracted.method}:{extracted.language}")

    async def verify_program(
        self, program: Program, tests: Any, *, limits: Limits | None = None
    ) -> Verdict:
        """Verdict for a program given directly (no response to parse): source code in one of
        the sandbox's languages and tests in any accepted layout (``verifiers.code.tests``).
        Function-call tests need a Python program (ValueError otherwise)."""
        suite = parse_tests(tests)
        language = get_language(program.language).name
        if isinstance(suite, PYTHON_ONLY) and language != "python":
            raise ValueError(f"function-call tests call Python functions, not {language} ones")
        verdict, _ = await self._run(program, suite, limits or self.limits)
        return msgspec.structs.replace(verdict, answer=program.source, method=f"program:{language}")

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

    def _require_isolation(self) -> None:
        choice = self.pool.choice
        if choice is not None and not choice.isolated and not self.allow_local:
            raise LocalSandboxRefused(
                f"the code verifier will not run untrusted programs on the {choice.backend!r} "
                f"sandbox backend ({choice.reason}), which does not isolate them from this "
                "machine: start Docker (.ci/docker.sh), or pass CodeVerifier(pool, "
                "allow_local=True) for code you trust"
            )

    async def _run(
        self, program: Program, suite: TestSuite, limits: Limits
    ) -> tuple[Verdict, list[RunResult]]:
        self._require_isolation()
        if isinstance(suite, StdioTests):
            inputs = [case.input for case in suite.cases]
            return await self._batch(program, inputs, self._stdio_judge(suite), limits)
        nonce = secrets.token_hex(16)
        if isinstance(suite, CallTests):
            caller = _harness(program, "call", LIVECODEBENCH_PRELUDE, fn_name=suite.fn_name)
            inputs = [f"{nonce}\n{case.input}" for case in suite.cases]
            return await self._batch(caller, inputs, _call_judge(suite, nonce), limits)
        checker = _harness(
            program, "check", suite.prelude, tests=suite.code, shown=suite.source, spans=suite.spans
        )
        result = await self.pool.run(checker, nonce + "\n", limits)
        return _judge_check(result, nonce, suite), [result]

    async def _batch(
        self, program: Program, inputs: list[str], judge: Judge, limits: Limits
    ) -> tuple[Verdict, list[RunResult]]:
        """Run one program on every input in order, stopping at the first failed test."""
        verdicts: dict[int, Verdict | None] = {}

        def failed(index: int, result: RunResult) -> bool:
            verdicts[index] = judge(index, result)
            return verdicts[index] is not None

        batch = await self.pool.run_batch(
            program, inputs, limits, stop_when=failed, total_wall_s=self.program_time_s
        )
        if not batch.compile.ok:
            return failure(batch.compile, None), []
        for index, result in enumerate(batch.runs):
            verdict = verdicts[index] if index in verdicts else judge(index, result)
            if verdict is not None:
                return verdict, batch.runs
        return Verdict("passed", detail=f"{len(inputs)} tests passed"), batch.runs

    def _stdio_judge(self, suite: StdioTests) -> Judge:
        def judge(index: int, result: RunResult) -> Verdict | None:
            case = suite.cases[index]
            if not result.ok:
                return failure(result, index)
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

        return judge


# -- the harness's reports (verifiers.code.harness)


class Passed(msgspec.Struct, tag_field="kind", tag="passed"):
    pass


class Failed(msgspec.Struct, tag_field="kind", tag="failed"):
    test: int
    message: str


class Returned(msgspec.Struct, tag_field="kind", tag="returned"):
    value: Any


class NotJson(msgspec.Struct, tag_field="kind", tag="not_json"):
    type: str


class Threw(Raised, tag_field="kind", tag="raised"):
    test: int | None = None


class NotCompiled(msgspec.Struct, tag_field="kind", tag="not_compiled"):
    message: str


Report = Passed | Failed | Returned | NotJson | Threw | NotCompiled


def _harness(program: Program, mode: str, prelude: str, **fields: Any) -> Program:
    config = dict(fields, mode=mode, prelude=prelude, solution=program.source)
    return Program("python", f"{HARNESS_SOURCE}\nmain({config!r})\n")


def _report(result: RunResult, nonce: str) -> Report | None:
    """The harness's report: its last line that starts with the nonce (None: none came)."""
    marker = f"\n{nonce} "
    at = result.stdout.rfind(marker)
    if at < 0:
        return None
    line = result.stdout[at + len(marker) :].partition("\n")[0]
    try:
        return msgspec.json.decode(line, type=Report)
    except (msgspec.DecodeError, RecursionError):  # cut off, or nested past the decoder's depth
        return None


def _harness_failure(result: RunResult, report: Report | None, index: int | None):
    """The verdict of a harness run that did not finish normally, or None if it did."""
    if isinstance(report, NotCompiled):
        return Verdict("compile_error", detail=report.message)
    if isinstance(report, Threw) and result.status in RAISING:
        return failure(result, index if index is not None else report.test, report)
    if not result.ok:
        return failure(result, index)
    return None


def _judge_check(result: RunResult, nonce: str, suite: CheckTests) -> Verdict:
    report = _report(result, nonce)
    if (verdict := _harness_failure(result, report, None)) is not None:
        return verdict
    if isinstance(report, Passed):
        return Verdict("passed", detail=f"{suite.asserts} asserts passed")
    if isinstance(report, Failed):
        detail = f"test {report.test}: {report.message}"
        return Verdict("wrong_answer", detail=detail, test_index=report.test)
    return Verdict("wrong_answer", detail="the program exited before its tests finished")


def _call_judge(suite: CallTests, nonce: str) -> Judge:
    expected = expected_values(suite)

    def judge(index: int, result: RunResult) -> Verdict | None:
        report = _report(result, nonce)
        if (verdict := _harness_failure(result, report, index)) is not None:
            return verdict
        if isinstance(report, Returned):
            mismatch = compare_values(expected[index], report.value)
            if mismatch is None:
                return None
            detail = f"test {index}: {mismatch}"
        elif isinstance(report, NotJson):
            detail = f"test {index}: returned a {report.type}, not a JSON value"
        else:
            detail = f"test {index}: the program exited before returning"
        return Verdict("wrong_answer", detail=detail, test_index=index)

    return judge
