"""Code tests as questions carry them, and the Python harness that runs function-call tests.

Accepted shapes (``parse_tests``):
- ``[{"input": str, "output": str}, ...]``: stdin/stdout cases (Codeforces, TACO);
- ``{"inputs": [str], "outputs": [str]}``: the same, column-wise (CodeContests, TACO stdio);
- ``{"functional": "def check(candidate): ... check(Solution().method)"}``: LeetCode, run after
  LeetCode's star-import prelude;
- a string: an assert-style test program (HumanEval/MBPP) run after the solution.

The harness reads a random nonce from stdin before the solution runs and prints it only after
every test ran, so a solution that exits early (``sys.exit(0)``) cannot pass. Each ``assert``
of the tests is rewritten to report its index and, for ``==``, the expected and actual values;
a returned object whose class (defined by the solution) overrides ``==`` is refused.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Any

import msgspec

from verifiers.code.extract import Entry

LEETCODE_MODULES = (
    "typing", "collections", "heapq", "itertools", "functools", "math", "bisect", "string",
    "re", "operator",
)  # fmt: skip
LEETCODE_PRELUDE = "".join(f"from {module} import *\n" for module in LEETCODE_MODULES)

#: exit status of the harness when the solution itself does not compile
SOLUTION_SYNTAX_EXIT = 3
ASSERT_FAILURE = re.compile(r"^AssertionError: test (\d+): (.*)$", re.MULTILINE)
ERROR_IN_TEST = re.compile(r"^in test (\d+)$", re.MULTILINE)


class TestFormatError(ValueError):
    """Tests that are not in any accepted shape; the message names the field."""

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
    """Python test code run in the solution's namespace; ``asserts`` counts its assert lines,
    ``entry`` holds the names it uses without defining them (what the solution must define)."""

    code: str
    prelude: str
    asserts: int
    entry: Entry


TestSuite = StdioTests | CheckTests


def parse_tests(tests: Any) -> TestSuite:
    """Validate tests once, at the edge; a bad shape raises TestFormatError naming the field."""
    if isinstance(tests, str):
        return _check_tests(tests, "", "tests")
    if isinstance(tests, dict) and "functional" in tests:
        if not isinstance(tests["functional"], str):
            raise TestFormatError("tests.functional: expected a string of Python test code")
        return _check_tests(tests["functional"], LEETCODE_PRELUDE, "tests.functional")
    if isinstance(tests, dict) and "fn_name" in tests:
        raise TestFormatError(
            "tests.fn_name: call-based (TACO fn_name) tests are not supported; give them as "
            '{"functional": "def check(candidate): ..."} or as an assert program'
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
        f"tests: unsupported shape {type(tests).__name__}; expected a list of "
        '{"input", "output"}, {"inputs", "outputs"}, {"functional": code} or a test program'
    )


def _case(index: int, case: Any) -> StdioCase:
    if not isinstance(case, dict):
        raise TestFormatError(f"tests[{index}]: expected an object, got {type(case).__name__}")
    for field in ("input", "output"):
        if not isinstance(case.get(field), str):
            raise TestFormatError(f"tests[{index}].{field}: expected a string")
    return StdioCase(case["input"], case["output"])


def _check_tests(code: str, prelude: str, field: str) -> CheckTests:
    try:
        tree = ast.parse(code)
    except SyntaxError as error:
        raise TestFormatError(f"{field}: line {error.lineno}: {error.msg}") from error
    entry = Entry(names=_free_names(tree))
    rewriter = _AssertRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    if rewriter.count == 0:
        raise TestFormatError(f"{field}: the test code has no assert")
    return CheckTests(ast.unparse(tree), prelude, rewriter.count, entry)


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


class _AssertRewriter(ast.NodeTransformer):
    """``assert got == expected`` -> ``__tm_eq__(i, lambda: got, lambda: expected)``;
    any other ``assert test`` -> ``__tm_true__(i, lambda: test, "test")``."""

    def __init__(self) -> None:
        self.count = 0

    def visit_Assert(self, node: ast.Assert) -> ast.Expr:
        index = ast.Constant(self.count)
        self.count += 1
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
            got, expected = test.left, test.comparators[0]
            if isinstance(expected, ast.Call) and not isinstance(got, ast.Call):
                got, expected = expected, got
            call = _call("__tm_eq__", index, _thunk(got), _thunk(expected))
        else:
            call = _call("__tm_true__", index, _thunk(test), ast.Constant(ast.unparse(test)))
        return ast.copy_location(ast.Expr(call), node)


def _thunk(expression: ast.expr) -> ast.Lambda:
    arguments = ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], defaults=[]
    )
    return ast.Lambda(args=arguments, body=expression)


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])


HARNESS = """\
import sys as _sys

SOLUTION = {solution!r}
PRELUDE = {prelude!r}
TESTS = {tests!r}


def _evaluate(index, thunk):
    try:
        return thunk()
    except BaseException as error:
        if hasattr(error, "add_note"):
            error.add_note(f"in test {{index}}")
        raise


def _own_eq(value):
    for cls in type(value).__mro__:
        if "__eq__" in vars(cls):
            return cls.__module__ == "solution"
    return False


def _eq(index, got, expected):
    got, expected = _evaluate(index, got), _evaluate(index, expected)
    if _own_eq(got):
        kind = type(got).__name__
        raise AssertionError(f"test {{index}}: got a {{kind}} that defines its own ==")
    if not (got == expected):
        raise AssertionError(f"test {{index}}: expected {{expected!r:.200}}, got {{got!r:.200}}")


def _true(index, test, text):
    if not _evaluate(index, test):
        raise AssertionError(f"test {{index}}: failed: {{text:.200}}")


def _main():
    nonce = _sys.stdin.readline().strip()
    namespace = {{"__name__": "solution", "__builtins__": __builtins__}}
    exec(PRELUDE, namespace)
    try:
        solution = compile(SOLUTION, "solution.py", "exec")
    except SyntaxError:
        import traceback

        traceback.print_exc(limit=0)
        _sys.exit({syntax_exit})
    exec(solution, namespace)
    namespace.update(__name__="__main__", __tm_eq__=_eq, __tm_true__=_true)
    exec(compile(TESTS, "tests.py", "exec"), namespace)
    _sys.stdout.write("\\n" + nonce + "\\n")


_main()
"""


def harness_program(solution: str, tests: CheckTests) -> str:
    """A Python program that runs ``tests`` against ``solution`` (give it the nonce on stdin)."""
    return HARNESS.format(
        solution=solution,
        prelude=tests.prelude,
        tests=tests.code,
        syntax_exit=SOLUTION_SYNTAX_EXIT,
    )
