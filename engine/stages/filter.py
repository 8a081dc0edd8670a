"""Filter stage: rows the sources rejected become exclusions; then decontamination against
benchmarks and dedup against earlier questions.

Resume: both filters are deterministic over the (seeded) source order, so a restart replays the
stream through them instead of persisting their state.
"""

from __future__ import annotations

from engine.decont import Decontaminator
from engine.dedup import Dedup
from engine.funnel import Funnel
from engine.pipeline import Emit
from engine.records import Question
from engine.sources.intake import Rejected
from engine.stages.exclusions import Exclusions


class FilterStage:
    """Question -> the same question, unless a benchmark contains it or it repeats an earlier
    one; dropped questions become exclusion records, as do the rows the sources rejected (a
    bad row, a repeated id: ``intake`` in the funnel). Runs alone (concurrency 1): in order."""

    name = "filter"
    concurrency = 1
    drop_on_stop = True

    def __init__(self, decont: Decontaminator | None, dedup: Dedup | None, exclusions: Exclusions):
        self.decont = decont
        self.dedup = dedup
        self.exclusions = exclusions
        self.funnel = Funnel()

    async def process(self, question: Question | Rejected, emit: Emit) -> None:
        if isinstance(question, Rejected):
            self.funnel.count("intake", question.question.domain, question.kind)
            await self.exclusions.add(question.question, "intake", question.reason)
            return
        if self.decont is not None and (hit := self.decont(question)) is not None:
            self.funnel.count("decont", question.domain, hit.benchmark)
            await self.exclusions.add(question, "decont", hit)
            return
        if self.dedup is not None and (twin := self.dedup(question)) is not None:
            self.funnel.count("dedup", question.domain, twin.method)
            await self.exclusions.add(question, "dedup", twin)
            return
        if self.decont is not None or self.dedup is not None:
            self.funnel.count("filters", question.domain, "kept")
        await emit(question)
