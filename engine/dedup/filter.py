"""Dedup: drop questions whose problem repeats (exactly, or nearly) one already kept."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.dedup.exact import ExactIndex, exact_key
from engine.dedup.lsh import Probe
from engine.dedup.near import NearIndex
from engine.records import Duplicate, Question
from engine.specs import DedupSpec


class Dedup:
    """``batch(questions)`` returns, per question in order, a Duplicate to drop it or None to keep.

    Questions are compared with every question kept before them, earlier ones of the same batch
    included; ``__call__`` is a batch of one. Batches of a few hundred amortize the numpy work of
    near dedup. State lives in memory: to resume, pass the questions this filter kept before
    (e.g. read back from its output shards) to ``remember``, which rebuilds the same state.
    """

    def __init__(self, spec: DedupSpec) -> None:
        self.spec = spec
        self.exact = ExactIndex() if spec.exact else None
        self.near = (
            NearIndex(spec.threshold, spec.num_perm, spec.shingle, spec.seed) if spec.near else None
        )

    def __call__(self, question: Question) -> Duplicate | None:
        return self.batch([question])[0]

    def batch(self, questions: Sequence[Question]) -> list[Duplicate | None]:
        return self._run(questions, check=True)

    def remember(self, kept: Iterable[Question], batch_size: int = 1024) -> None:
        """Add questions known to be kept, without testing them (resume)."""
        chunk: list[Question] = []
        for question in kept:
            chunk.append(question)
            if len(chunk) == batch_size:
                self._run(chunk, check=False)
                chunk.clear()
        self._run(chunk, check=False)

    def _run(self, questions: Sequence[Question], check: bool) -> list[Duplicate | None]:
        near = self.near
        texts = [q.problem for q in questions]
        probes = near.prepare(texts) if near is not None else [None] * len(questions)
        verdicts: list[Duplicate | None] = []
        for question, probe in zip(questions, probes, strict=True):
            key = exact_key(question.problem) if self.exact is not None else 0
            duplicate = self._find(question.id, key, probe) if check else None
            if duplicate is None:
                if self.exact is not None:
                    self.exact.add(key, question.id)
                if near is not None and probe is not None:
                    near.add(probe, question.id)
            verdicts.append(duplicate)
        return verdicts

    def _find(self, question_id: str, key: int, probe: Probe | None) -> Duplicate | None:
        if self.exact is not None and (twin := self.exact.get(key)) is not None:
            return Duplicate(question_id=question_id, kept_id=twin, method="exact", similarity=1.0)
        if self.near is not None and probe is not None and (hit := self.near.match(probe)):
            return Duplicate(
                question_id=question_id, kept_id=hit[0], method="near", similarity=hit[1]
            )
        return None
