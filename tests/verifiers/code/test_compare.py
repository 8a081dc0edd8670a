"""The output-comparison policy: tokens, numbers, case, and never a partial or extra output."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifiers.code.compare import compare_outputs, tokens_match

token = st.text(alphabet="abcXYZ0123456789.-+e", min_size=1, max_size=8)
tokens = st.lists(token, min_size=1, max_size=20)
separators = st.lists(st.sampled_from([" ", "\n", "\t", "  ", "\r\n"]), min_size=21, max_size=21)


def joined(words: list[str], seps: list[str]) -> str:
    return "".join(word + sep for word, sep in zip(words, seps, strict=False))


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("1 2 3\n", "1 2 3"),
        ("1 2 3\n", "1\n2\n3\n\n"),
        ("0.1", "0.1000000"),
        ("0.333333333", "0.3333333"),  # absolute 1e-6
        ("1000000.5", "1000000.9"),  # relative 1e-6
        ("2", "2.0000001"),
        ("-0", "0"),
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        ("1e-9", "0"),
        ("YES", "YES"),
    ],
)
def test_accepted(expected: str, got: str) -> None:
    assert compare_outputs(expected, got) is None


@pytest.mark.parametrize(
    ("expected", "got", "where"),
    [
        ("1 2 3", "1 2", "token 3: expected '3', got end of output"),  # partial output
        ("1 2", "1 2 3", "token 3: expected end of output, got '3'"),  # extra output
        ("", "0", "token 1: expected end of output, got '0'"),
        ("abc", "abd", "token 1: expected 'abc', got 'abd'"),  # non-numeric tokens differ
        ("YES", "yes", "token 1"),
        ("0.1", "0.1001", "token 1"),
        ("123456789012345678901234567890", "123456789012345678901234567891", "token 1"),
        ("1000000000000000000", "1000000000000000001", "token 1"),  # big ints are exact
        ("1", "1x", "token 1"),
        ("inf", "1e999", "token 1"),
        ("1e999", "1e998", "token 1"),
    ],
)
def test_rejected(expected: str, got: str, where: str) -> None:
    mismatch = compare_outputs(expected, got)
    assert mismatch is not None and mismatch.describe().startswith(where)


def test_case_insensitivity_is_opt_in() -> None:
    assert compare_outputs("YES\nNo", "yes\nNO", case_insensitive=True) is None
    assert compare_outputs("YES", "yes") is not None
    assert not tokens_match("YES", "yep", case_insensitive=True)


def test_long_tokens_are_cut_in_the_excerpt() -> None:
    mismatch = compare_outputs("a" * 500, "b" * 500)
    assert mismatch is not None and len(mismatch.describe()) < 200


@given(tokens, separators, separators)
def test_spacing_never_matters(words: list[str], left: list[str], right: list[str]) -> None:
    assert compare_outputs(joined(words, left), joined(words, right)) is None


@given(tokens, st.data())
def test_a_missing_token_always_fails(words: list[str], data: st.DataObject) -> None:
    dropped = data.draw(st.integers(0, len(words) - 1))
    shorter = words[:dropped] + words[dropped + 1 :]
    assert compare_outputs(" ".join(words), " ".join(shorter)) is not None
    assert compare_outputs(" ".join(shorter), " ".join(words)) is not None


@given(st.lists(st.integers(), min_size=1, max_size=10), st.data())
def test_integers_off_by_one_always_fail(numbers: list[int], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(numbers) - 1))
    wrong = list(numbers)
    wrong[index] += data.draw(st.sampled_from([-1, 1]))
    expected, got = " ".join(map(str, numbers)), " ".join(map(str, wrong))
    mismatch = compare_outputs(expected, got)
    assert mismatch is not None and mismatch.position == index


@given(st.floats(-1e9, 1e9, allow_nan=False), st.floats(-0.9e-6, 0.9e-6))
def test_floats_within_tolerance_pass(value: float, error: float) -> None:
    assert compare_outputs(f"{value:.9f}", f"{value + error:.9f}") is None
