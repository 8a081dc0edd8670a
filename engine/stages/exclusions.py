"""The exclusion writer the curation stages share: each dropped question once, with its typed
reason, into the ``NAME_excluded`` shards (datatrove's exclusion writers, one stream for all)."""

from __future__ import annotations

from engine.records import Excluded, ExclusionStage, Question, Reason
from engine.specs import OutputSpec
from engine.storage.outcomes import Outcome
from engine.storage.output import Stream
from engine.storage.sink import RecordSink


class Exclusions:
    """Writes each excluded question once per question id (a restart replays the stream, and
    the ids already written are read back from the shards at start)."""

    def __init__(self, stream: Stream, spec: OutputSpec):
        self.written = stream.known_ids()
        self.sink = RecordSink(stream.writer(spec))

    async def add(self, question: Question, stage: ExclusionStage, reason: Reason) -> None:
        if question.id in self.written:
            return
        self.written.add(question.id)
        record = Excluded(
            question.id, question.domain, question.source, stage, reason, question.problem[:500]
        )
        await self.sink.write(
            record, (question.id, -1, ""), Outcome.of_question(question.domain, stage)
        )
