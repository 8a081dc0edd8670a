"""Answer filtering: none, passed only, and majority vote where no gold exists."""

from __future__ import annotations

import random

import pytest

from engine.answer_filter import Rejection, Votes, extracted_answer, filter_group, vote_key
from engine.records import Failure, Message, Sample, Teacher
from verifiers.verdict import Verdict


def sample(
    index: int,
    completion: str | None = None,
    verdict: Verdict | None = None,
    question: str = "q",
    domain: str = "math",
) -> Sample:
    return Sample(
        question_id=question,
        sample_index=index,
        recipe_hash="h",
        seed=index,
        domain=domain,  # type: ignore[arg-type]
        teacher=Teacher("openai", "mock"),
        messages=[Message("user", "What is half of one?")],
        completion=completion,
        verdict=verdict,
        failure=Failure("timeout") if completion is None else None,
    )


def boxed(answer: str) -> str:
    return f"<think>\nworking\n</think>\n\nSo the answer is $\\boxed{{{answer}}}$."


def kept_indices(samples, policy) -> list[int]:
    kept, rejected = filter_group(samples, policy)
    assert len(kept) + len(rejected) == len(samples)
    return sorted(s.sample_index for s in kept)


GRADED = [
    sample(0, boxed("2"), Verdict("passed", answer="2")),
    sample(1, boxed("3"), Verdict("wrong_answer", answer="3")),
    sample(2, "no box at all, <think> never closed", Verdict("no_answer")),
    sample(3, boxed("2"), Verdict("passed", answer="2")),
    sample(4),  # a failure: no completion
]


def test_none_keeps_every_sample():
    assert kept_indices(GRADED, "none") == [0, 1, 2, 3, 4]


def test_passed_keeps_passed_only_and_says_why_the_rest_go():
    kept, rejected = filter_group(GRADED, "passed")
    assert [s.sample_index for s in kept] == [0, 3]
    assert [(r.sample_index, r.reason, r.detail) for r in rejected] == [
        (1, "not_passed", "wrong_answer"),
        (2, "not_passed", "no_answer"),
        (4, "not_passed", "unverified"),
    ]


def test_majority_uses_the_verdicts_when_the_question_has_gold():
    assert kept_indices(GRADED, "majority") == [0, 3]


def test_majority_counts_equal_values_as_one_answer():
    samples = [
        sample(0, boxed("3")),
        sample(1, boxed("1/2")),
        sample(2, boxed("0.5")),
        sample(3, boxed("\\frac{1}{2}")),
        sample(4, boxed("3")),
        sample(5, "I am not sure."),
        sample(6),
    ]
    kept, rejected = filter_group(samples, "majority")
    assert [s.sample_index for s in kept] == [1, 2, 3]
    assert {(r.sample_index, r.reason) for r in rejected} == {
        (0, "minority"),
        (4, "minority"),
        (5, "no_answer"),
        (6, "no_answer"),
    }
    minority = next(r for r in rejected if r.sample_index == 0)
    assert minority == Rejection(
        question_id="q",
        sample_index=0,
        reason="minority",
        detail="answer '3'; majority '1/2' with 3 of 5 votes",
    )


@pytest.mark.parametrize("seed", range(5))
def test_a_tie_goes_to_the_answer_of_the_lowest_sample_index_in_any_order(seed):
    samples = [
        sample(0, boxed("x + 1")),
        sample(1, boxed("7")),
        sample(2, boxed("7")),
        sample(3, boxed("1 + x")),
        sample(4, boxed("9")),
    ]
    random.Random(seed).shuffle(samples)
    assert kept_indices(samples, "majority") == [0, 3]


def test_answers_that_cannot_vote():
    unfinished = sample(0, "<think>\nstill thinking about 42")
    code = sample(1, "```python\nprint(42)\n```", domain="code")
    words = sample(2, "The answer is \\boxed{\\text{Evelyn}}.")
    assert [extracted_answer(s) for s in (unfinished, code, words)] == [
        None,
        None,
        "\\text{Evelyn}",
    ]
    assert kept_indices([unfinished, code], "majority") == []
    assert vote_key("\\text{Evelyn}") == vote_key("\\text{ evelyn }") != vote_key("\\text{Eve}")


def test_streaming_votes_over_interleaved_questions_match_per_question_groups():
    rng = random.Random(3)
    groups = {
        f"q{q}": [
            sample(i, boxed(str(rng.choice([1, 2, 2, 3]))), question=f"q{q}") for i in range(8)
        ]
        for q in range(30)
    }
    everything = [s for group in groups.values() for s in group]
    rng.shuffle(everything)
    votes = Votes()
    for s in everything:
        votes.add(s)
    streamed = {
        (s.question_id, s.sample_index) for s in everything if not votes.judge(s, "majority")
    }
    grouped = {
        (s.question_id, s.sample_index)
        for group in groups.values()
        for s in filter_group(group, "majority")[0]
    }
    assert streamed == grouped and 0 < len(streamed) < len(everything)
