"""Test shapes as questions carry them, and the harness's rewriting of asserts."""

from __future__ import annotations

import ast

import pytest

from verifiers.code.extract import Entry
from verifiers.code.tests import (
    LEETCODE_PRELUDE,
    CallCase,
    CallTests,
    CheckTests,
    StdioCase,
    StdioTests,
    TestFormatError,
    expected_values,
    parse_tests,
)

CASE = {"input": "1", "output": "2"}


def test_stdio_list_and_columns_give_the_same_cases() -> None:
    listed = parse_tests([{"input": "1\n", "output": "2\n"}, {"input": "3\n", "output": "4\n"}])
    columns = parse_tests({"inputs": ["1\n", "3\n"], "outputs": ["2\n", "4\n"]})
    assert listed == columns == StdioTests([StdioCase("1\n", "2\n"), StdioCase("3\n", "4\n")])


def test_functional_tests_get_the_leetcode_prelude_and_numbered_asserts() -> None:
    code = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2), 'two'\n"
    tests = parse_tests({"functional": code + "check(Solution().f)"})
    assert isinstance(tests, CheckTests)
    assert tests.prelude == LEETCODE_PRELUDE and tests.asserts == 2
    assert tests.entry == Entry(names=frozenset({"Solution"}))
    assert "__tm_eq__(0, lambda: (candidate(1)), lambda: (2), None)" in tests.code
    assert "__tm_true__(1, lambda: (candidate(2)), 'candidate(2)', lambda: ('two'))" in tests.code


def test_rewriting_keeps_line_numbers_and_records_each_asserts_lines() -> None:
    code = (
        "x = 'é'\nassert f(x) == 2\n\nassert (\n    g(x) and  # h(x)\n    x\n)\ny = 3; assert y\n"
    )
    tests = parse_tests(code)
    assert isinstance(tests, CheckTests)
    assert tests.source == code and tests.spans == [(2, 2), (4, 7), (8, 8)]
    assert [node.lineno for node in ast.parse(tests.code).body] == [1, 2, 4, 8, 8]
    assert tests.code.splitlines()[7] == "y = 3; __tm_true__(2, lambda: (y), 'y', None)"


def test_expected_value_on_the_left_is_still_the_expected_one() -> None:
    tests = parse_tests("assert 2 == add(1, 1)")
    assert isinstance(tests, CheckTests) and tests.prelude == ""
    assert tests.entry == Entry(names=frozenset({"add"}))
    assert "__tm_eq__(0, lambda: (add(1, 1)), lambda: (2), None)" in tests.code


def test_names_the_tests_define_or_import_are_not_asked_of_the_solution() -> None:
    code = "import math\nfrom x import y as z\ndef helper(n):\n    return n\nfor i in range(3):\n"
    code += "    assert solve(helper(i), z) == math.floor(i)\n"
    assert parse_tests(code).entry == Entry(names=frozenset({"solve"}))


def test_call_tests() -> None:
    raw = {"fn_name": "maxSum", "cases": [{"input": "[1, 2]\n3", "output": "6"}]}
    tests = parse_tests({"call": raw})
    assert tests == CallTests("maxSum", [CallCase("[1, 2]\n3", "6")])
    assert tests.entry == Entry(names=frozenset({"Solution", "maxSum"}))
    assert expected_values(tests) == [6]


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ([], "tests: the list is empty"),
        ([{"input": "1"}], r"tests\[0\]\.output: expected a string"),
        ([{"input": "1", "output": "2"}, "x"], r"tests\[1\]: expected an object, got str"),
        ({"inputs": ["1"], "outputs": []}, "tests: 1 inputs but 0 outputs"),
        ({"functional": 3}, "tests.functional: expected a string"),
        ({"functional": "def check(:"}, "tests.functional: line 1"),
        ("print('no checks')", "tests: the test code has no assert"),
        (42, "tests: unsupported layout int"),
        ({"fn_name": "f", "inputs": [[1]], "outputs": [[2]]}, r"tests.fn_name: give call-based"),
        ({"call": {"fn_name": "f", "cases": []}}, r"tests.call.cases: .*length >= 1"),
        (
            {"call": {"fn_name": "f()", "cases": [CASE]}},
            r"tests.call.fn_name: Expected `str` matching regex",
        ),
        ({"call": {"cases": [CASE]}}, "tests.call: Object missing required field `fn_name`"),
        ({"call": {"fn_name": "f", "cases": [{"input": 1, "output": "2"}]}}, r"cases\[0\]\.input"),
        ({"call": {"fn_name": "f", "cases": [CASE], "extra": 1}}, "unknown field `extra`"),
        (
            {"call": {"fn_name": "f", "cases": [CASE, {"input": "[1]\n{x", "output": "2"}]}},
            r"tests.call.cases\[1\].input: line 2: not a JSON value",
        ),
        (
            {"call": {"fn_name": "f", "cases": [{"input": "1", "output": "nope"}]}},
            r"tests.call.cases\[0\].output: not a JSON value",
        ),
    ],
)
def test_bad_tests_name_the_field(tests, message: str) -> None:
    with pytest.raises(TestFormatError, match=message):
        parse_tests(tests)
