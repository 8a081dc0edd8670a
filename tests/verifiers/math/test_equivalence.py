"""The equivalence table: every equivalent pair passes, no non-equivalent pair ever does."""

from __future__ import annotations

import pytest

from tests.data.math_pairs import EQUIVALENT, NOT_EQUIVALENT, TRAPS
from verifiers.math import verify
from verifiers.math.compare import Judge, match_answers


def _cases(table: dict[str, list[tuple[str, str]]]) -> list:
    return [
        pytest.param(response, gold, id=f"{group}-{index}")
        for group, pairs in table.items()
        for index, (response, gold) in enumerate(pairs)
    ]


def _trace(answer: str) -> str:
    return f"Let me work through it.\n\nSo the final answer is $\\boxed{{{answer}}}$."


def test_table_is_broad() -> None:
    assert sum(map(len, EQUIVALENT.values())) >= 200
    assert sum(map(len, NOT_EQUIVALENT.values())) >= 100
    assert len(TRAPS) >= 25


@pytest.mark.parametrize(("response", "gold"), _cases(EQUIVALENT))
def test_equivalent(response: str, gold: str) -> None:
    verdict = verify(_trace(response), gold)
    assert verdict.status == "passed", verdict


@pytest.mark.parametrize(("response", "gold"), _cases(NOT_EQUIVALENT))
def test_not_equivalent(response: str, gold: str) -> None:
    verdict = verify(_trace(response), gold)
    assert verdict.status == "wrong_answer", verdict


@pytest.mark.parametrize(("response", "gold"), [pytest.param(*p, id=p[0]) for p in TRAPS])
def test_traps_either_way_round(response: str, gold: str) -> None:
    """Swapping response and gold must not turn a trap into a pass."""
    assert verify(_trace(gold), response).status == "wrong_answer"


@pytest.mark.parametrize(("response", "gold"), [pytest.param(*p, id=p[0]) for p in TRAPS])
def test_fast_judge_never_passes_a_trap(response: str, gold: str) -> None:
    """The in-process fast paths refute or defer; they never accept a trap."""
    result, _ = match_answers(response, gold, Judge())
    assert result is not True
