"""Write stage: samples become JSON lines in shards; a ticker flushes idle buffers."""

from __future__ import annotations

import asyncio

import msgspec

from engine.generate.stages import Item, Tracker
from engine.metrics import Metrics
from engine.pipeline import Emit
from engine.storage.shards import ShardWriter, outcome_of

_encode = msgspec.json.Encoder().encode


class WriteStage:
    """The single owner of the shard writer; the lock keeps the ticker's flushes out of writes."""

    name = "write"
    concurrency = 1
    drop_on_stop = False

    def __init__(self, writer: ShardWriter, tracker: Tracker, metrics: Metrics):
        self.writer = writer
        self.tracker = tracker
        self.metrics = metrics
        self.lock = asyncio.Lock()

    async def process(self, item: Item, emit: Emit) -> None:
        sample = item.sample
        outcome = outcome_of(
            sample.verdict.status if sample.verdict else None,
            sample.failure.kind if sample.failure else None,
        )
        async with self.lock:
            await self.writer.write(_encode(sample) + b"\n", sample.key, outcome)
        self.metrics.samples_written += 1
        self.tracker.written(sample.question_id)
        await emit(item)

    async def flush_every(self, seconds: float) -> None:
        """Flush a partly filled buffer at least every ``seconds`` (runs until cancelled)."""
        while True:
            await asyncio.sleep(seconds)
            async with self.lock:
                await self.writer.flush()

    async def close(self) -> None:
        async with self.lock:
            await self.writer.close()
