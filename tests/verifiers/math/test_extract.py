"""Answer extraction and normalisation: what is graded, and how it was found."""

from __future__ import annotations

import pytest

from verifiers.math import verify
from verifiers.math.extract import (
    UnfinishedThinking,
    extract_answer,
    final_text,
    gold_answer,
    last_boxed,
)
from verifiers.math.normalize import normalize

EXTRACTIONS = [
    # (response, extracted answer, method)
    (r"so $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}", "boxed"),
    (r"\boxed{\frac{\sqrt{3}}{\left(2\right)}}", r"\frac{\sqrt{3}}{\left(2\right)}", "boxed"),
    (r"First \boxed{3}, then corrected: \boxed{4}", "4", "boxed"),
    (r"\fbox{7}", "7", "boxed"),
    (r"The roots are \boxed{3} and \boxed{5}.", "3, 5", "boxed"),
    (r"\boxed 5", "5", "boxed"),
    (r"\boxed{\text{(B)}}", r"\text{(B)}", "boxed"),
    ("Thus the final answer is 42.", "42", "answer_phrase"),
    ("The final answer is $x = 5$.", "x = 5", "answer_phrase"),
    ("Answer: 3 or 5", "3 or 5", "answer_phrase"),
    ("The answer is $3$ or $5$.", "3, 5", "answer_phrase"),
    (r"Hence the answer is \(\frac{7}{2}\).", r"\frac{7}{2}", "answer_phrase"),
    ("$\\frac{14}{3}$", r"\frac{14}{3}", "latex"),
    (r"\[ \sqrt{2} \]", r"\sqrt{2}", "latex"),
    ("Working it out.\n\nWe get $y = 2x + 3$ for the line.", "y = 2x + 3", "latex"),
    ("7,425,000", "7,425,000", "bare"),
    (r"\frac12", r"\frac12", "bare"),
    ("After adding 3 apples to 4 apples we have 7 apples in total", "7", "last_number"),
    ("I think 42", "42", "last_number"),
    ("The total is -3.5 metres after all", "-3.5", "last_number"),
]


@pytest.mark.parametrize(("response", "answer", "method"), EXTRACTIONS)
def test_extraction(response: str, answer: str, method: str) -> None:
    found = extract_answer(response)
    assert found is not None
    assert (found.answer, found.method) == (answer, method)


def test_nothing_to_extract() -> None:
    assert extract_answer("I am not sure how to proceed with this problem.") is None
    assert verify(r"I cannot finish: \boxed{}", "5").status == "no_answer"
    verdict = verify("I am not sure how to proceed with this problem.", "5")
    assert verdict.status == "no_answer"


def test_think_blocks_are_not_graded() -> None:
    trace = r"<think>Maybe \boxed{4}? No.</think> The answer is $\boxed{5}$."
    assert final_text(trace).strip().startswith("The answer")
    assert verify(trace, "5").passed
    assert not verify(r"<think>\boxed{5}</think> so \boxed{4}", "5").passed


def test_unclosed_think_is_no_answer() -> None:
    with pytest.raises(UnfinishedThinking):
        final_text(r"<think> long reasoning \boxed{5}")
    verdict = verify(r"<think> long reasoning \boxed{5}", "5")
    assert verdict.status == "no_answer"
    assert "think" in verdict.detail


def test_unbalanced_box_is_skipped() -> None:
    assert last_boxed(r"\boxed{3} and then \boxed{4") == "3"


def test_gold_worked_solution_uses_its_last_box() -> None:
    solution = r"We have $x^2=4$, so $x = \boxed{2}$ or, more simply, $\boxed{\pm 2}$."
    assert gold_answer(solution) == r"\pm 2"
    assert gold_answer("  \\frac{1}{2} ") == r"\frac{1}{2}"
    assert verify(r"so \boxed{2, -2}", solution).passed


def test_empty_gold_is_an_error() -> None:
    with pytest.raises(ValueError, match="gold answer is empty"):
        verify(r"\boxed{1}", "  ")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (r"\left( 3, \dfrac{\pi}{2} \right)", r"( 3, \frac{\pi}{2} )"),
        (r"\tfrac12", r"\frac{1}{2}"),
        (r"10,\!080", "10080"),
        ("7,425,000", "7425000"),
        ("1 000", "1000"),
        (r"\$18.90", "18.90"),
        (r"30^\circ", "30"),
        (r"15\mbox{ cm}^2", "15"),
        (r"864 \mbox{ inches}^2", "864"),
        ("5.", "5"),
        (r"3 \text{ or } 5", "3 or 5"),
        (r"\mathrm{e}^{x}", "e ^{x}"),
        ("(2,251,252)", "(2,251,252)"),
        ("6m", "6m"),
    ],
)
def test_normalize(raw: str, normal: str) -> None:
    assert normalize(raw) == normal


def test_verdict_records_extraction_and_method() -> None:
    verdict = verify(r"Adding up, the answer is $\boxed{0.5}$.", r"\frac{1}{2}")
    assert verdict.status == "passed"
    assert verdict.answer == "0.5"
    assert verdict.method == "boxed/exact"
    wrong = verify(r"\boxed{0.6}", r"\frac{1}{2}")
    assert wrong.status == "wrong_answer"
    assert wrong.answer == "0.6"
    assert r"expected \frac{1}{2}" in wrong.detail
