"""Question curation before sampling: decontamination and dedup filters, exclusion records,
the scored-question stream and the top-N barrier, and the funnel that counts them all.

Resume: filters are deterministic over the (seeded) source order, so a restart replays the
stream through them instead of persisting their state; exclusions and scored questions are
written once per question id (their ids are read back from their shards at start).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from engine.decont import Contamination, Decontaminator
from engine.dedup import Dedup, Duplicate
from engine.pipeline import Emit
from engine.records import Question
from engine.scoring.spec import Unscored
from engine.select import NotSelected, TopN, save_selection
from engine.specs import OutputSpec
from engine.storage.output import Stream
from engine.storage.shards import iter_lines, list_shards
from engine.storage.sink import RecordSink

Reason = Contamination | Duplicate | Unscored | NotSelected


class Funnel:
    """Counts per stage, domain and outcome, e.g. ``("dedup", "math", "exact") -> 12``."""

    def __init__(self) -> None:
        self.counts: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )

    def count(self, stage: str, domain: str, outcome: str, amount: int = 1) -> None:
        self.counts[stage][domain][outcome] += amount

    def as_dict(self) -> dict[str, Any]:
        return {s: {d: dict(o) for d, o in doms.items()} for s, doms in self.counts.items()}

    def table(self) -> str:
        """A readable funnel: one line per stage and outcome, one column per domain."""
        domains = sorted({d for doms in self.counts.values() for d in doms})
        rows = [f"{'stage':<12} {'outcome':<22}" + "".join(f"{d:>10}" for d in domains)]
        for stage, doms in self.counts.items():
            outcomes = sorted({o for counts in doms.values() for o in counts})
            for outcome in outcomes:
                cells = "".join(f"{doms.get(d, {}).get(outcome, 0):>10}" for d in domains)
                rows.append(f"{stage:<12} {outcome:<22}{cells}")
        return "\n".join(rows)


class Excluded(msgspec.Struct, omit_defaults=True):
    """An exclusion record: a question dropped before sampling, with the typed reason."""

    question_id: str
    domain: str
    source: str
    stage: str
    reason: Reason
    problem: str


def known_ids(stream: Stream) -> set[str]:
    """Question ids already written to a question-keyed stream (recovering torn parts)."""
    return {key[0] for index in stream.recover() for key in index.keys}


class Exclusions:
    """Writes each excluded question once, into the ``NAME_excluded`` shards."""

    def __init__(self, stream: Stream, spec: OutputSpec, funnel: Funnel):
        self.written = known_ids(stream)
        self.sink = RecordSink(stream.writer(spec))
        self.funnel = funnel

    async def add(self, question: Question, stage: str, reason: Reason, outcome: str) -> None:
        self.funnel.count(stage, question.domain, outcome)
        if question.id in self.written:
            return
        self.written.add(question.id)
        record = Excluded(
            question.id, question.domain, question.source, stage, reason, question.problem[:500]
        )
        await self.sink.write(record, (question.id, -1, ""), f"{question.domain}:{stage}")

    async def on_unscored(self, question: Question, unscored: Unscored) -> None:
        await self.add(question, "score", unscored, unscored.reason)


class FilterStage:
    """Question -> the same question, unless a benchmark contains it or it repeats an earlier
    one; dropped questions become exclusion records. Runs alone (concurrency 1): in order."""

    name = "filter"
    concurrency = 1
    drop_on_stop = True

    def __init__(
        self,
        decont: Decontaminator | None,
        dedup: Dedup | None,
        exclusions: Exclusions,
        funnel: Funnel,
    ):
        self.decont = decont
        self.dedup = dedup
        self.exclusions = exclusions
        self.funnel = funnel

    async def process(self, question: Question, emit: Emit) -> None:
        if self.decont is not None and (hit := self.decont(question)) is not None:
            await self.exclusions.add(question, "decont", hit, hit.benchmark)
            return
        if self.dedup is not None and (twin := self.dedup(question)) is not None:
            await self.exclusions.add(question, "dedup", twin, twin.method)
            return
        self.funnel.count("filters", question.domain, "kept")
        await emit(question)


class SkipHandled:
    """Drops questions a previous run already scored or excluded (replayed after a restart)."""

    name = "resume"
    concurrency = 1
    drop_on_stop = True

    def __init__(self, handled: set[str], funnel: Funnel):
        self.handled = handled
        self.funnel = funnel

    async def process(self, question: Question, emit: Emit) -> None:
        if question.id in self.handled:
            self.funnel.count("score", question.domain, "done_before")
            return
        await emit(question)


class ScoredSink:
    """The last stage of curation: scored questions into the ``NAME_scored`` shards."""

    name = "scored"
    concurrency = 1
    drop_on_stop = False

    def __init__(self, sink: RecordSink, funnel: Funnel):
        self.sink = sink
        self.funnel = funnel

    async def process(self, question: Question, emit: Emit) -> None:
        self.funnel.count("score", question.domain, "scored")
        await self.sink.write(question, (question.id, -1, ""), f"{question.domain}:scored")


_decode_question = msgspec.json.Decoder(Question).decode


def scored_questions(stream: Stream) -> Iterator[Question]:
    for path in list_shards(stream.directory, stream.name):
        for line in iter_lines(path):
            yield _decode_question(line)


async def select_top(
    scored: Iterable[Question], top: TopN, path: Path, exclusions: Exclusions, spec: OutputSpec
) -> int:
    """The barrier: keep the top N per domain, exclude the rest, persist the selection."""
    for question in scored:
        if (out := top.add(question)) is not None:
            dropped, reason = out
            await exclusions.add(dropped, "select", reason, reason.reason)
    chosen = top.selected()
    for question in chosen:
        exclusions.funnel.count("select", question.domain, "selected")
    return await asyncio.to_thread(save_selection, path, chosen, spec.zstd_level)
