"""Test shapes as questions carry them, and the harness's rewriting of asserts."""

from __future__ import annotations

import pytest

from verifiers.code.tests import (
    LEETCODE_PRELUDE,
    CheckTests,
    StdioCase,
    StdioTests,
    TestFormatError,
    parse_tests,
)


def test_stdio_list_and_columns_give_the_same_cases() -> None:
    listed = parse_tests([{"input": "1\n", "output": "2\n"}, {"input": "3\n", "output": "4\n"}])
    columns = parse_tests({"inputs": ["1\n", "3\n"], "outputs": ["2\n", "4\n"]})
    assert listed == columns == StdioTests([StdioCase("1\n", "2\n"), StdioCase("3\n", "4\n")])


def test_functional_tests_get_the_leetcode_prelude_and_numbered_asserts() -> None:
    code = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2)\n"
    tests = parse_tests({"functional": code})
    assert isinstance(tests, CheckTests)
    assert tests.prelude == LEETCODE_PRELUDE and tests.asserts == 2
    assert "__tm_eq__(0, lambda: candidate(1), lambda: 2)" in tests.code
    assert "__tm_true__(1, lambda: candidate(2), 'candidate(2)')" in tests.code


def test_expected_value_on_the_left_is_still_the_expected_one() -> None:
    tests = parse_tests("assert 2 == add(1, 1)")
    assert isinstance(tests, CheckTests) and tests.prelude == ""
    assert "__tm_eq__(0, lambda: add(1, 1), lambda: 2)" in tests.code


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
        (42, "tests: unsupported shape int"),
        ({"fn_name": "f", "inputs": [[1]], "outputs": [[2]]}, "tests.fn_name: call-based"),
    ],
)
def test_bad_tests_name_the_field(tests, message: str) -> None:
    with pytest.raises(TestFormatError, match=message):
        parse_tests(tests)
