"""Code tests as questions carry them, validated once at the edge (``parse_tests``).

Accepted layouts:
- ``[{"input": str, "output": str}, ...]``: stdin/stdout cases (Codeforces, TACO, LiveCodeBench
  stdin problems);
- ``{"inputs": [str], "outputs": [str]}``: the same, column-wise (CodeContests, TACO stdio);
- ``{"call": {"fn_name": str, "cases": [{"input": str, "output": str}, ...]}}``: call-based
  tests (LiveCodeBench "functional" problems): each case calls ``Solution().fn_name(*args)``,
  or a top-level ``fn_name`` when the solution has no such class, with one JSON value per
  line of ``input`` as its arguments, and its result must equal the JSON value ``output``
  (``verifiers.code.compare.compare_values``); the solution runs after LiveCodeBench's own
  import prelude, one process per case, under the per-test limits;
- ``{"functional": "def check(candidate): ... check(Solution().method)"}``: LeetCode, run after
  LeetCode's star-import prelude;
- a string: an assert-style test program (HumanEval/MBPP) run after the solution.

The last two run in one process through ``verifiers.code.harness``; each of their asserts is
rewritten in place, on the same lines, into a call that reports the assert's index, values and
message (``rewrite_asserts``).
"""

from __future__ import annotations

import ast
import builtins
from typing import Annotated, Any

import msgspec

from verifiers.code.extract import Entry

LEETCODE_MODULES = (
    "typing", "collections", "heapq", "itertools", "functools", "math", "bisect", "string",
    "re", "operator",
)  # fmt: skip
LEETCODE_PRELUDE = "".join(f"from {module} import *\n" for module in LEETCODE_MODULES)
#: LiveCodeBench's grader runs every program after these imports (lcb_runner's import_string)
LIVECODEBENCH_MODULES = (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
    "statistics", "itertools", "functools", "operator", "io", "sys", "json",
)  # fmt: skip
LIVECODEBENCH_PRELUDE = (
    "".join(f"from {module} import *\n" for module in LIVECODEBENCH_MODULES)
    + "from builtins import *\nfrom typing import *\n"
    + "".join(f"import {module}\n" for module in LIVECODEBENCH_MODULES)
    + "sys.setrecursionlimit(50000)\n"
)


class TestFormatError(ValueError):
    """Tests that are not in any accepted layout; the message names the field."""

    __test__ = False  # not a pytest test class


class StdioCase(msgspec.Struct, frozen=True):
    input: str
    output: str


class StdioTests(msgspec.Struct, frozen=True):
    cases: list[StdioCase]

    @property
    def entry(self) -> Entry:
        return Entry(reads_input=True)


class CheckTests(msgspec.Struct, frozen=True):
    """Python test code run in the solution's namespace: ``code`` is ``source`` with its asserts
    rewritten (``rewrite_asserts``), ``spans`` the first and last line of each assert, and
    ``entry`` the names the code uses without defining them (what the solution must define)."""

    source: str
    code: str
    prelude: str
    spans: list[tuple[int, int]]
    entry: Entry

    @property
    def asserts(self) -> int:
        return len(self.spans)


class CallCase(msgspec.Struct, frozen=True):
    """One call: the arguments, one JSON value per line, and the JSON value it must return."""

    input: str
    output: str


class CallTests(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fn_name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    cases: Annotated[list[CallCase], msgspec.Meta(min_length=1)]

    @property
    def entry(self) -> Entry:
        return Entry(names=frozenset({"Solution", self.fn_name}))


TestSuite = StdioTests | CheckTests | CallTests
#: the suites whose tests call Python functions (the solution must be Python)
PYTHON_ONLY = (CheckTests, CallTests)


def parse_tests(tests: Any) -> TestSuite:
    """Validate tests once, at the edge; a bad layout raises TestFormatError naming the field."""
    if isinstance(tests, StdioTests | CheckTests | CallTests):
        return tests
    if isinstance(tests, str):
        return _check_tests(tests, "", "tests")
    if isinstance(tests, dict) and "call" in tests:
        return _call_tests(tests["call"])
    if isinstance(tests, dict) and "functional" in tests:
        if not isinstance(tests["functional"], str):
            raise TestFormatError("tests.functional: expected a string of Python test code")
        return _check_tests(tests["functional"], LEETCODE_PRELUDE, "tests.functional")
    if isinstance(tests, dict) and "fn_name" in tests:
        raise TestFormatError(
            'tests.fn_name: give call-based tests as {"call": {"fn_name": ..., "cases": '
            '[{"input": ..., "output": ...}]}}'
        )
    if isinstance(tests, dict) and {"inputs", "outputs"} <= tests.keys():
        inputs, outputs = tests["inputs"], tests["outputs"]
        if not isinstance(inputs, list) or not isinstance(outputs, list):
            raise TestFormatError("tests.inputs/tests.outputs: expected two lists of strings")
        if len(inputs) != len(outputs):
            raise TestFormatError(
                f"tests: {len(inputs)} inputs but {len(outputs)} outputs (they must pair up)"
            )
        tests = [{"input": i, "output": o} for i, o in zip(inputs, outputs, strict=True)]
    if isinstance(tests, list):
        cases = [_case(index, case) for index, case in enumerate(tests)]
        if not cases:
            raise TestFormatError("tests: the list is empty")
        return StdioTests(cases)
    raise TestFormatError(
        f"tests: unsupported layout {type(tests).__name__}; expected a list of "
        '{"input", "output"}, {"inputs", "outputs"}, {"call": ...}, {"functional": code} '
        "or a test program"
    )


def _case(index: int, case: Any) -> StdioCase:
    if not isinstance(case, dict):
        raise TestFormatError(f"tests[{index}]: expected an object, got {type(case).__name__}")
    for field in ("input", "output"):
        if not isinstance(case.get(field), str):
            raise TestFormatError(f"tests[{index}].{field}: expected a string")
    return StdioCase(case["input"], case["output"])


def _call_tests(raw: Any) -> CallTests:
    try:
        tests = msgspec.convert(raw, CallTests)
    except msgspec.ValidationError as error:
        message, _, path = str(error).partition(" - at `$")
        raise TestFormatError(f"tests.call{path.rstrip('`')}: {message}") from None
    for index, case in enumerate(tests.cases):
        for number, line in enumerate(case.input.split("\n"), 1):
            if line.strip():
                _json(line, f"tests.call.cases[{index}].input: line {number}")
        _json(case.output, f"tests.call.cases[{index}].output")
    return tests


def _json(text: str, where: str) -> Any:
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as error:
        raise TestFormatError(f"{where}: not a JSON value ({error})") from None


def expected_values(tests: CallTests) -> list[Any]:
    """The JSON value each case must return (validated by ``parse_tests``)."""
    return [msgspec.json.decode(case.output) for case in tests.cases]


def _check_tests(code: str, prelude: str, field: str) -> CheckTests:
    code = code.replace("\r\n", "\n")
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise TestFormatError(f"{field}: line {error.lineno}: {error.msg}") from error
    rewritten, spans = rewrite_asserts(code, tree)
    if not spans:
        raise TestFormatError(f"{field}: the test code has no assert")
    return CheckTests(code, rewritten, prelude, spans, Entry(names=_free_names(tree)))


def rewrite_asserts(code: str, tree: ast.Module) -> tuple[str, list[tuple[int, int]]]:
    """``code`` (parsed as ``tree``) with each assert replaced, on the very same lines (so that
    tracebacks point at the test's own lines), by a call of the harness:
    ``assert got == expected, message`` -> ``__tm_eq__(i, lambda: (got), lambda: (expected),
    lambda: (message))``; any other ``assert test, message`` -> ``__tm_true__(i, lambda:
    (test), "test", lambda: (message))``. Returns it and the first and last line of each."""
    encoded = code.encode()
    starts = [0]
    for line in encoded.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)

    def offset(line: int, column: int) -> int:  # columns count UTF-8 bytes
        return starts[line - 1] + column

    def text(node: ast.expr) -> str:
        start, end = (
            offset(node.lineno, node.col_offset),
            offset(node.end_lineno, node.end_col_offset),
        )
        return f"lambda: ({encoded[start:end].decode()})"

    asserts = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Assert)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    pieces, spans, done = [], [], 0
    for index, node in enumerate(asserts):
        test = node.test
        message = text(node.msg) if node.msg is not None else "None"
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            got, expected = test.left, test.comparators[0]
            if isinstance(expected, ast.Call) and not isinstance(got, ast.Call):
                got, expected = expected, got
            call = f"__tm_eq__({index}, {text(got)}, {text(expected)}, {message}"
        else:
            call = f"__tm_true__({index}, {text(test)}, {ast.unparse(test)!r}, {message}"
        start, end = (
            offset(node.lineno, node.col_offset),
            offset(node.end_lineno, node.end_col_offset),
        )
        lines = encoded[start:end].count(b"\n") - call.count("\n")
        pieces += [encoded[done:start], (call + "\n" * lines + ")").encode()]
        spans.append((node.lineno, node.end_lineno or node.lineno))
        done = end
    pieces.append(encoded[done:])
    return b"".join(pieces).decode(), spans


def _free_names(tree: ast.Module) -> frozenset[str]:
    """Names the code reads but never binds, builtins aside: what it expects to be given."""
    read, bound = set(), set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).partition(".")[0])
    return frozenset(read - bound)
