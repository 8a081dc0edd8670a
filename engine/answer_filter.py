"""Answer filtering: which of a question's samples to keep, by their verdicts or by vote.

Off by default (``none``): OpenThoughts3 found little benefit in filtering answers. ``passed``
keeps the samples whose verdict passed. ``majority`` keeps, for questions without a gold answer,
the samples whose extracted final answer agrees with the most common one among that question's
samples; a question with gold (any of its samples carries a verdict) uses ``passed`` instead.

Votes compare answers by meaning where that is cheap and exact: ``1/2``, ``0.5`` and
``\\frac{1}{2}`` are one vote (exact canonical forms of the math verifier), ``x+1`` and ``1+x``
too; other answers compare by their normalized text. Code answers are programs, not values:
without tests they get no vote. Samples without an extractable answer do not vote and are
dropped under ``majority``. A tie between the most common answers goes to the one given by the
lowest sample index, so the result does not depend on the order records are read in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from engine.records import Sample
from engine.specs import AnswerPolicy
from verifiers.math.exact import canonical
from verifiers.math.extract import UnfinishedThinking, extract_answer, final_text
from verifiers.math.normalize import normalize
from verifiers.math.parse import parse_answer

RejectionReason = Literal["not_passed", "minority", "no_answer"]


class Rejection(msgspec.Struct, kw_only=True, tag="answer_filter"):
    """Why a sample was filtered out."""

    question_id: str
    sample_index: int
    reason: RejectionReason
    detail: str = ""


def extracted_answer(sample: Sample) -> str | None:
    """The sample's final answer: its verdict's, else extracted from the completion (not code)."""
    if sample.verdict is not None and sample.verdict.answer is not None:
        return sample.verdict.answer
    if sample.completion is None or sample.domain == "code":
        return None
    try:
        found = extract_answer(final_text(sample.completion))
    except UnfinishedThinking:
        return None
    return found.answer if found else None


def vote_key(answer: str) -> str:
    """Equal for answers that are the same value or expression, as far as exact forms tell."""
    try:
        tree = parse_answer(answer)
    except (ValueError, RecursionError):
        return "text:" + normalize(answer).replace(" ", "")
    form = canonical(tree)
    return "form:" + form.key() if form is not None else "tree:" + repr(tree)


class _Vote(msgspec.Struct):
    """One distinct answer: how many samples gave it, and the lowest-index one's wording."""

    count: int
    first_index: int
    answer: str


class _Tally(msgspec.Struct):
    gold: bool = False
    votes: dict[str, _Vote] = {}


class Votes:
    """Tallies samples (of any number of questions) as they are read, then judges each one.

    Feed every candidate sample to ``add`` first, then ask ``judge`` about each: the two-pass
    shape lets an export stream samples from shards without holding them.
    """

    def __init__(self) -> None:
        self.tallies: dict[str, _Tally] = {}

    def add(self, sample: Sample) -> None:
        tally = self.tallies.setdefault(sample.question_id, _Tally())
        if sample.verdict is not None:
            tally.gold = True
            return
        answer = extracted_answer(sample)
        if answer is None:
            return
        vote = tally.votes.setdefault(vote_key(answer), _Vote(0, sample.sample_index, answer))
        vote.count += 1
        if sample.sample_index < vote.first_index:
            vote.first_index, vote.answer = sample.sample_index, answer

    def judge(self, sample: Sample, policy: AnswerPolicy) -> Rejection | None:
        """None to keep the sample under ``policy``, else why it goes."""
        if policy == "none":
            return None
        tally = self.tallies.get(sample.question_id)
        if policy == "passed" or (tally is not None and tally.gold):
            if sample.verdict is not None and sample.verdict.passed:
                return None
            status = sample.verdict.status if sample.verdict else "unverified"
            return _reject(sample, "not_passed", status)
        answer = extracted_answer(sample)
        if answer is None or tally is None or not tally.votes:
            return _reject(sample, "no_answer", "no final answer to vote with")
        key = vote_key(answer)
        votes = tally.votes
        winner = min(votes, key=lambda k: (-votes[k].count, votes[k].first_index))
        if key == winner:
            return None
        total = sum(vote.count for vote in votes.values())
        majority = votes[winner]
        detail = (
            f"answer {answer!r}; majority {majority.answer!r} with {majority.count} of "
            f"{total} votes"
        )
        return _reject(sample, "minority", detail)


def _reject(sample: Sample, reason: RejectionReason, detail: str) -> Rejection:
    return Rejection(
        question_id=sample.question_id,
        sample_index=sample.sample_index,
        reason=reason,
        detail=detail,
    )


def filter_group(
    samples: Sequence[Sample], policy: AnswerPolicy
) -> tuple[list[Sample], list[Rejection]]:
    """Split one question's samples into kept ones and rejections, under ``policy``."""
    votes = Votes()
    for sample in samples:
        votes.add(sample)
    kept: list[Sample] = []
    rejected: list[Rejection] = []
    for sample in samples:
        rejection = votes.judge(sample, policy)
        if rejection is None:
            kept.append(sample)
        else:
            rejected.append(rejection)
    return kept, rejected
