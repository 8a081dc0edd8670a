r"""Whole responses of each false-negative class a reasoning model writes, and their near misses.

Each class has responses that must pass and responses a lax grader would accept but must not:
the last answer marker wins whichever kind it is, a span that names the unknown gives its
value, answers spread over several boxes or spans are joined when the gold lists several,
and no number is read from inside an identifier. Answer-level forms of the other classes
(named and chained answers, inequalities, ratios, percent words, decimal commas) are in the
equivalence table (tests/data/math_pairs.py), boxed inside a short trace.
"""

from __future__ import annotations

import pytest

from tests.data.math_pairs import (
    BOXED_REASONING,
    REASONING,
    TRACE_FAIL,
    TRACE_MARKED,
    TRACE_PASS,
)
from verifiers.math.grade import grade


def _cases(table: dict[str, list[tuple[str, str]]]) -> list:
    return [
        pytest.param(
            response,
            gold,
            BOXED_REASONING if group in TRACE_MARKED else REASONING,
            id=f"{group}-{index}",
        )
        for group, pairs in table.items()
        for index, (response, gold) in enumerate(pairs)
    ]


def test_every_class_has_many_examples_and_near_misses() -> None:
    assert set(TRACE_PASS) == set(TRACE_FAIL)
    assert all(len(TRACE_PASS[g]) >= 3 and len(TRACE_FAIL[g]) >= 2 for g in TRACE_PASS)


@pytest.mark.parametrize(("response", "gold", "reasoning"), _cases(TRACE_PASS))
def test_class_passes(response: str, gold: str, reasoning: str) -> None:
    verdict = grade(response, gold)
    assert verdict.status == "passed", verdict
    in_a_trace = grade(reasoning + response, gold)
    assert in_a_trace.status == "passed", in_a_trace


@pytest.mark.parametrize(("response", "gold", "reasoning"), _cases(TRACE_FAIL))
def test_near_miss_fails(response: str, gold: str, reasoning: str) -> None:
    verdict = grade(response, gold)
    assert verdict.status in ("wrong_answer", "no_answer"), verdict
    assert not grade(reasoning + response, gold).passed


@pytest.mark.parametrize(
    ("response", "answer", "method"),
    [
        (r"\boxed{310} ... The final answer is $2,310$.", "2,310", "answer_phrase"),
        (r"\boxed{12}. Note the answer is not 13.", "12", "boxed"),
        ("The smallest $k$ is 12.", "12", "latex"),
        ("So the answer is Bob left 5 minutes later.", "5", "answer_phrase"),
        ("The code is QWERTY7B", None, None),
        ("I got x2 and y3 but no total", None, None),
    ],
)
def test_extracted_answer_and_method(response: str, answer: str | None, method: str | None):
    verdict = grade(response, "1")
    assert (verdict.answer, verdict.method.split("/")[0] or None) == (answer, method)
