"""Sinks: a shard writer shared by pipeline stages and a flush ticker, and the samples sink,
which also keeps the ledger of questions still waiting for samples (for the index's complete
ranges and open keys)."""

from __future__ import annotations

import asyncio

import msgspec

from engine.records import Failure, Sample
from engine.specs import OutputSpec
from engine.storage.outcomes import Outcome, Scope, retryable_failure
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


class _Waiting:
    """A question still waiting for samples: how many, its ordinal in the stream, and the
    failed attempts of each sample made again."""

    __slots__ = ("history", "left", "ordinal")

    def __init__(self, left: int, ordinal: int, history: dict[int, list[Failure]]):
        self.left, self.ordinal, self.history = left, ordinal, history


class SampleSink(RecordSink):
    """The samples stream. ``begin`` with the scope of the sampled stream, ``expect`` a
    question's missing samples (with the question's ordinal in that stream), then ``write``
    them; when a question's last sample is written, its ordinal goes into the shard's complete
    ranges, and questions still open at a seal have their keys listed in that shard's index.
    A sample made again gets the failed attempts it replaces as its ``history``."""

    def __init__(self, stream: Stream, spec: OutputSpec):
        super().__init__(stream.writer(spec, is_open=self.is_open))
        self.pending: dict[str, _Waiting] = {}

    def begin(self, scope: Scope) -> None:
        """The stream about to be sampled: what the ordinals in this run's ranges mean."""
        self.writer.scope = scope.encode()

    def expect(
        self,
        question_id: str,
        ordinal: int,
        samples: int,
        history: dict[int, list[Failure]] | None = None,
    ) -> None:
        self.pending[question_id] = _Waiting(samples, ordinal, history or {})

    def is_open(self, question_id: str) -> bool:
        return question_id in self.pending

    async def write_sample(self, sample: Sample) -> bool:
        """Append the sample; True when it was the last one its question waited for."""
        waiting = self.pending[sample.question_id]
        sample.history = waiting.history.get(sample.sample_index, [])
        verdict = sample.verdict
        status = verdict.status if verdict else None
        failure = sample.failure
        outcome = Outcome.of_sample(sample.domain, status, failure.kind if failure else None)
        retryable = retryable_failure(failure, status, verdict.detail if verdict else "")
        line = _encode(sample) + b"\n"
        async with self.lock:
            await self.writer.write(line, sample.key, outcome, sample.history, retryable)
            waiting.left -= 1
            if waiting.left:
                return False
            del self.pending[sample.question_id]
            self.writer.completed(waiting.ordinal)
            return True
