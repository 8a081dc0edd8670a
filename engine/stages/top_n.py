"""Top-N per domain by a score: the barrier between scoring and sampling.

The selection is a pure function of the scored questions: rank by the score (descending or
ascending), ties broken by question id (smaller first), whatever order the questions arrive in.
Memory is a bounded heap of N questions per capped domain. The barrier persists its result
(engine.storage.selection), so a restarted job loads it instead of selecting again.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from pathlib import Path

from engine.funnel import Funnel
from engine.records import NotSelected, NotSelectedReason, Question
from engine.specs import OutputSpec, SelectSpec
from engine.stages.exclusions import Exclusions
from engine.storage.selection import save_selection


class _Entry:
    """A held question; ``a < b`` when a ranks below b (the heap's root is the weakest)."""

    __slots__ = ("key", "question")

    def __init__(self, key: float, question: Question):
        self.key, self.question = key, question

    def __lt__(self, other: _Entry) -> bool:
        if self.key != other.key:
            return self.key < other.key
        return self.question.id > other.question.id


class TopN:
    """``add`` each scored question; ``selected()`` once they are all in.

    ``add`` returns the question that is out, with the reason, as soon as that is certain: the
    new question itself, or the held one it displaced (a question pushed out of a top-N heap
    never comes back, since the heap only improves). ``held`` counts questions in memory.
    """

    def __init__(self, spec: SelectSpec):
        self.spec = spec
        self.sign = 1.0 if spec.order == "descending" else -1.0
        self.heaps: dict[str, list[_Entry]] = {}
        self.uncapped: list[Question] = []

    @property
    def held(self) -> int:
        return len(self.uncapped) + sum(len(heap) for heap in self.heaps.values())

    def score_of(self, question: Question) -> float | None:
        stage = self.spec.by.get(question.domain)
        for score in reversed(question.scores):
            if stage is None or score.stage == stage:
                return None if math.isnan(score.value) else score.value
        return None

    def add(self, question: Question) -> tuple[Question, NotSelected] | None:
        n = self.spec.top.get(question.domain)
        if n is None:
            self.uncapped.append(question)
            return None
        value = self.score_of(question)
        if value is None:
            by = self.spec.by.get(question.domain, "any stage")
            return question, self._out(question, "no_score", None, f"no score from {by}")
        entry = _Entry(self.sign * value, question)
        heap = self.heaps.setdefault(question.domain, [])
        if len(heap) < n:
            heapq.heappush(heap, entry)
            return None
        if n and heap[0] < entry:
            entry = heapq.heapreplace(heap, entry)
        out = entry.question
        detail = f"not in the top {n} {out.domain} questions ({self.spec.order})"
        return out, self._out(out, "below_top_n", self.sign * entry.key, detail)

    def selected(self) -> list[Question]:
        """Capped domains best first (domains in name order), then uncapped ones as they came."""
        chosen = [
            entry.question
            for domain in sorted(self.heaps)
            for entry in sorted(self.heaps[domain], reverse=True)
        ]
        return chosen + self.uncapped

    @staticmethod
    def _out(
        question: Question, reason: NotSelectedReason, score: float | None, detail: str
    ) -> NotSelected:
        return NotSelected(
            question_id=question.id,
            domain=question.domain,
            reason=reason,
            score=score,
            detail=detail,
        )


class SelectTop:
    """The barrier: once every scored question is in, keep the top N per domain, exclude the
    rest, and persist the selection at ``path``."""

    def __init__(self, spec: SelectSpec, exclusions: Exclusions, path: Path, output: OutputSpec):
        self.spec = spec
        self.exclusions = exclusions
        self.path = path
        self.output = output
        self.funnel = Funnel()

    async def run(self, scored: Iterable[Question]) -> int:
        """Select from ``scored`` and save; returns how many questions were selected."""
        top = TopN(self.spec)
        for question in scored:
            if (out := top.add(question)) is not None:
                dropped, reason = out
                self.funnel.count("select", dropped.domain, reason.reason)
                await self.exclusions.add(dropped, "select", reason)
        chosen = top.selected()
        for question in chosen:
            self.funnel.count("select", question.domain, "selected")
        return await save_selection(self.path, chosen, self.output)
