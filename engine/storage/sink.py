"""Sinks: shard writers shared by pipeline stages and a flush ticker; the samples write stage."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec

from engine.storage.shards import Key, ShardWriter, sample_label

if TYPE_CHECKING:
    from engine.generate.stages import Item, Tracker
    from engine.metrics import Metrics
    from engine.pipeline import Emit

_encode = msgspec.json.Encoder().encode


class RecordSink:
    """One shard writer, written by stages and flushed by a ticker; the lock keeps them apart."""

    def __init__(self, writer: ShardWriter):
        self.writer = writer
        self.lock = asyncio.Lock()

    async def write(self, record: msgspec.Struct, key: Key | None, outcome: str) -> None:
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


class WriteStage:
    """Item -> its sample appended to the samples shards (the pipeline's last stage)."""

    name = "write"
    concurrency = 1
    drop_on_stop = False

    def __init__(self, sink: RecordSink, tracker: Tracker, metrics: Metrics):
        self.sink = sink
        self.tracker = tracker
        self.metrics = metrics

    async def process(self, item: Item, emit: Emit) -> None:
        sample = item.sample
        label = sample_label(
            sample.domain,
            sample.verdict.status if sample.verdict else None,
            sample.failure.kind if sample.failure else None,
        )
        await self.sink.write(sample, sample.key, label)
        self.metrics.samples_written += 1
        self.tracker.written(sample.question_id)
