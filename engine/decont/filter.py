"""Decontamination: drop questions that overlap an evaluation benchmark named in the config."""

from __future__ import annotations

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

    def __init__(self, spec: DecontSpec) -> None:
        self.spec = spec
        self.index = BenchmarkIndex(spec.ngram)
        self.loaded: dict[str, int] = {}
        for benchmark in spec.benchmarks:
            self.loaded[benchmark.name] = 0
            for question in Source(benchmark):
                self.index.add(
                    benchmark.name, question.id, question.problem, words(question.problem)
                )
                self.loaded[benchmark.name] += 1

    def __call__(self, question: Question) -> Contamination | None:
        tokens = words(question.problem)
        threshold = self.spec.fuzzy_threshold
        if overlap := self.index.overlap(tokens):
            item, method, score, evidence = overlap.item, "ngram", overlap.shared, overlap.gram
        elif threshold and (near := self.index.nearest(tokens, threshold)):
            item, method, score, evidence = near.item, "fuzzy", near.score, near.item.problem[:200]
        else:
            return None
        return Contamination(
            question_id=question.id,
            benchmark=item.benchmark,
            item_id=item.id,
            method=method,
            score=score,
            evidence=evidence,
        )
