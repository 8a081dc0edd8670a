"""Decontamination: drop questions that overlap an evaluation benchmark named in the config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import msgspec

from engine.decont.index import BenchmarkIndex
from engine.decont.text import words
from engine.records import Question
from engine.sources import Source, SourceSpec


class DecontSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``benchmarks``: the eval sets, read like sources (their ``name`` labels each removal).

    A question is contaminated when it shares one word ``ngram`` with a benchmark problem, or
    when its normalized text reaches ``fuzzy_threshold`` (rapidfuzz ratio, 0-100) against one;
    ``fuzzy_threshold = 0`` turns the fuzzy test off.
    """

    benchmarks: list[SourceSpec] = []
    ngram: int = 13
    fuzzy_threshold: float = 95.0

    def __post_init__(self) -> None:
        if self.ngram < 1:
            raise ValueError(f"decont ngram must be >= 1, got {self.ngram}")
        if not 0 <= self.fuzzy_threshold <= 100:
            raise ValueError(
                f"decont fuzzy_threshold must be in [0, 100], got {self.fuzzy_threshold}"
            )


class Contamination(msgspec.Struct, kw_only=True, tag="contamination"):
    """Why a question was dropped: which benchmark item it matched, how, and the evidence."""

    question_id: str
    benchmark: str
    item_id: str
    method: Literal["ngram", "fuzzy"]
    score: float  # shared n-grams (ngram) or fuzzy ratio 0-100 (fuzzy)
    evidence: str  # the first shared n-gram, or the opening of the benchmark problem


class Decontaminator:
    """Calling it with a question returns a Contamination to drop it, or None to keep it.

    Stateless once built (the index comes from the benchmark files), so resuming needs no
    checkpoint: rebuilding takes well under a second for the usual eval sets.
    ``loaded`` counts the items read per benchmark (0 for an optional one that is absent).
    """

    def __init__(
        self, spec: DecontSpec, benchmarks: Mapping[str, Iterable[Question]] | None = None
    ) -> None:
        self.spec = spec
        self.index = BenchmarkIndex(spec.ngram)
        if benchmarks is None:
            benchmarks = {bench.name: Source(bench) for bench in spec.benchmarks}
        self.loaded: dict[str, int] = {}
        for name, questions in benchmarks.items():
            count = 0
            for count, question in enumerate(questions, start=1):  # noqa: B007
                self.index.add(name, question.id, question.problem, words(question.problem))
            self.loaded[name] = count

    def __call__(self, question: Question) -> Contamination | None:
        tokens = words(question.problem)
        if match := self.index.overlap(tokens):
            return Contamination(
                question_id=question.id,
                benchmark=match.item.benchmark,
                item_id=match.item.id,
                method="ngram",
                score=match.shared,
                evidence=match.gram,
            )
        if self.spec.fuzzy_threshold and (
            near := self.index.nearest(tokens, self.spec.fuzzy_threshold)
        ):
            return Contamination(
                question_id=question.id,
                benchmark=near.item.benchmark,
                item_id=near.item.id,
                method="fuzzy",
                score=near.score,
                evidence=near.item.problem[:200],
            )
        return None
