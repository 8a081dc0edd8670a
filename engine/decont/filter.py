"""Decontamination: drop questions that overlap an evaluation benchmark named in the config."""

from __future__ import annotations

from engine.decont.index import BenchmarkIndex
from engine.decont.text import words
from engine.records import Contamination, Question
from engine.sources import Source
from engine.specs import DecontSpec


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
