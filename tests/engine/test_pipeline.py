"""The stage runner: order of effects, back-pressure, stop, errors."""

from __future__ import annotations

import asyncio

import pytest

from engine.pipeline import Pipeline


class Collect:
    name, concurrency, drop_on_stop = "collect", 1, False

    def __init__(self, delay: float = 0.0):
        self.items: list[int] = []
        self.delay = delay

    async def process(self, item, emit):
        await asyncio.sleep(self.delay)
        self.items.append(item)
        await emit(item)


class Double:
    name, drop_on_stop = "double", True

    def __init__(self, concurrency: int):
        self.concurrency = concurrency

    async def process(self, item, emit):
        await asyncio.sleep(0.001)
        await emit(item)
        await emit(item + 1000)


async def test_every_item_flows_through_concurrent_stages():
    sink = Collect()
    await Pipeline(range(200), [Double(8), sink], queue_size=4).run()
    assert sorted(sink.items) == sorted([*range(200), *range(1000, 1200)])


async def test_bounded_queues_apply_back_pressure_to_the_source():
    read = 0

    def source():
        nonlocal read
        for i in range(10_000):
            read += 1
            yield i

    sink = Collect(delay=0.01)
    pipeline = Pipeline(source(), [Double(2), sink], queue_size=3)
    task = asyncio.ensure_future(pipeline.run())
    await asyncio.sleep(0.3)
    assert read < 40  # a slow sink holds the reader back: queues + workers, not the dataset
    pipeline.stop()
    await task
    assert read < 60


async def test_stop_drops_unstarted_work_but_finishes_started_work():
    sink = Collect(delay=0.005)
    pipeline = Pipeline(range(1000), [Double(1), sink], queue_size=50)
    task = asyncio.ensure_future(pipeline.run())
    await asyncio.sleep(0.05)
    pipeline.stop()
    await task
    firsts = sorted(i for i in sink.items if i < 1000)
    assert 0 < len(firsts) < 1000
    assert all(i + 1000 in sink.items for i in firsts)  # a started item finished whole


async def test_a_failing_stage_fails_the_run():
    class Boom:
        name, concurrency, drop_on_stop = "boom", 2, False

        async def process(self, item, emit):
            if item == 7:
                raise RuntimeError("bug")
            await emit(item)

    with pytest.raises(RuntimeError, match="bug"):
        await asyncio.wait_for(Pipeline(range(100), [Boom(), Collect()], 4).run(), 5)
