"""Sinks: a shard writer shared by pipeline stages and a flush ticker, and the samples sink,
which also keeps the ledger of questions still waiting for samples (for the index's complete
ranges and open keys)."""

from __future__ import annotations

import asyncio

import msgspec

from engine.records import Sample
from engine.specs import OutputSpec
from engine.storage.outcomes import Outcome, Scope
from engine.storage.output import Stream
from engine.storage.shards import Key, ShardWriter

_encode = msgspec.json.Encoder().encode


class RecordSink:
    """One shard writer, written by stages and flushed by a ticker; the lock keeps them apart."""

    def __init__(self, writer: ShardWriter):
        self.writer = writer
        self.lock = asyncio.Lock()

    async def write(self, record: msgspec.Struct, key: Key | None, outcome: Outcome) -> None:
        line = _encode(record) + b"\n"
        async with self.lock:
            await self.writer.write(line, key, outcome)

    async def flush_every(self, seconds: float) -> None:
        """Flush a partly filled buffer at least every ``seconds`` (runs until cancelled)."""
        while True:
            await asyncio.sleep(seconds)
            async with self.lock:
                await self.writer.flush()

    async def close(self) -> None:
        async with self.lock:
            await self.writer.close()


class SampleSink(RecordSink):
    """The samples stream. ``expect`` a question's missing samples (with the question's ordinal
    in the deterministic stream), then ``write`` them; when a question's last sample is written,
    its ordinal goes into the shard's complete ranges, and questions still open at a seal have
    their keys listed in that shard's index."""

    def __init__(self, stream: Stream, spec: OutputSpec, scope: Scope):
        super().__init__(stream.writer(spec, scope, self.is_open))
        self.pending: dict[str, list[int]] = {}  # question id -> [samples left, ordinal]

    def expect(self, question_id: str, ordinal: int, samples: int) -> None:
        self.pending[question_id] = [samples, ordinal]

    def is_open(self, question_id: str) -> bool:
        return question_id in self.pending

    async def write_sample(self, sample: Sample) -> bool:
        """Append the sample; True when it was the last one its question waited for."""
        outcome = Outcome.of_sample(
            sample.domain,
            sample.verdict.status if sample.verdict else None,
            sample.failure.kind if sample.failure else None,
        )
        line = _encode(sample) + b"\n"
        async with self.lock:
            await self.writer.write(line, sample.key, outcome)
            entry = self.pending[sample.question_id]
            entry[0] -= 1
            if entry[0]:
                return False
            del self.pending[sample.question_id]
            self.writer.completed(entry[1])
            return True
