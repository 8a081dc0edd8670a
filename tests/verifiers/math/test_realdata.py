"""Real benchmark golds (../shared/data/math): each equals itself as a model would write it,
differs from its value plus one, and differs from the gold of the next problem.

Skipped when the shared data folder is absent (a fresh clone has none).
"""

from __future__ import annotations

import json

import pytest

from tests.data.math_pairs_rewrites import model_rewrites, wrong_rewrite
from tests.helpers import SHARED_DATA
from verifiers.math import verify

DATA = SHARED_DATA / "math"
DATASETS = ("math500", "aime2024", "amc", "minerva", "olympiad_bench")

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no shared data at {DATA}")

# Neighbouring problems whose different-looking golds have the same value.
SAME_VALUE_NEIGHBOURS = {
    ("math500", 22): "problem 23's gold is 'x=5', the value 5 of problem 22 as an equation",
}


def gold_answers(dataset: str) -> list[str]:
    """Gold answers as strings: amc's floats as numbers, olympiad lists joined by commas,
    minerva's first listed spelling."""
    rows = json.loads((DATA / f"{dataset}.json").read_text())
    golds = []
    for row in rows:
        answer = row["answer"]
        if isinstance(answer, float):
            answer = str(int(answer)) if answer.is_integer() else repr(answer)
        elif isinstance(answer, list):
            answer = answer[0] if dataset == "minerva" else ", ".join(answer)
        golds.append(answer.strip())
    return golds


def trace(answer: str) -> str:
    return f"Putting everything together.\n\nThe answer is $\\boxed{{{answer}}}$."


@pytest.mark.parametrize("dataset", DATASETS)
def test_gold_equals_its_model_rewrites(dataset: str) -> None:
    failures, rewrites = [], 0
    for index, gold in enumerate(gold_answers(dataset)):
        for form in model_rewrites(gold):
            rewrites += 1
            verdict = verify(trace(form), gold)
            if not verdict.passed:
                failures.append((index, gold, form, verdict.status, verdict.detail))
    assert failures == []
    assert rewrites > len(gold_answers(dataset))  # there were rewrites beyond the gold itself


@pytest.mark.parametrize("dataset", DATASETS)
def test_gold_differs_from_its_value_plus_one(dataset: str) -> None:
    checked = [
        (index, gold, wrong, verify(trace(wrong), gold))
        for index, gold in enumerate(gold_answers(dataset))
        if (wrong := wrong_rewrite(gold)) is not None
    ]
    assert [c for c in checked if c[3].status != "wrong_answer"] == []
    assert len(checked) >= len(gold_answers(dataset)) // 2


@pytest.mark.parametrize("dataset", DATASETS)
def test_gold_differs_from_next_problems_gold(dataset: str) -> None:
    golds = gold_answers(dataset)
    unexpected, compared = [], 0
    for index, gold in enumerate(golds):
        other = golds[(index + 1) % len(golds)]
        if other == gold:
            continue  # the same answer text: nothing to tell apart
        compared += 1
        verdict = verify(trace(other), gold)
        listed = (dataset, index) in SAME_VALUE_NEIGHBOURS
        if verdict.passed != listed or verdict.status not in ("passed", "wrong_answer"):
            unexpected.append((index, gold, other, verdict.status))
    assert unexpected == []
    assert compared >= len(golds) * 0.9
