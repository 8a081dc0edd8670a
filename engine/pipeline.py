"""Streaming stage runner: bounded asyncio queues between stages, N workers per stage.

Back-pressure comes from the bounded queues: a slow stage fills its inbox, which blocks the
stage before it, up to the source, which is read lazily. Memory is flat whatever the input.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol

Emit = Callable[[Any], Awaitable[None]]

_END = object()


class Stage(Protocol):
    """One step of the pipeline. ``process`` may emit zero or more items downstream.

    ``drop_on_stop``: once the pipeline stops, items not yet started here are discarded (work
    not begun); stages without it finish everything that reaches them (results not yet saved).
    """

    name: str
    concurrency: int
    drop_on_stop: bool

    async def process(self, item: Any, emit: Emit) -> None: ...


async def _discard(_item: Any) -> None:
    return None


class Pipeline:
    """Runs ``source -> stages[0] -> ... -> stages[-1]``.

    ``stop()`` stops reading the source and starting new work; what is under way settles.
    ``abort()`` cancels every worker at once (the caller then flushes its sinks).
    """

    def __init__(
        self, source: Iterable[Any] | AsyncIterator[Any], stages: list[Stage], queue_size: int
    ):
        self.source = source
        self.stages = stages
        self.queues = [asyncio.Queue(queue_size) for _ in stages]
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def stop(self) -> None:
        self.stopping = True

    def abort(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()

    async def run(self) -> None:
        """Run to completion; the first unexpected error in any stage cancels the rest."""
        groups = [self._spawn(self._feed(), "feed")]
        for i, stage in enumerate(self.stages):
            emit = self.queues[i + 1].put if i + 1 < len(self.stages) else _discard
            workers = [
                self._spawn(self._work(stage, self.queues[i], emit), f"{stage.name}-{w}")
                for w in range(stage.concurrency)
            ]
            groups.append(self._spawn(self._close_after(workers, i + 1), f"{stage.name}-close"))
        try:
            await asyncio.gather(*groups)
        except BaseException:
            self.abort()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise

    def _spawn(self, coroutine: Awaitable[None], name: str) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.append(task)
        return task

    async def _feed(self) -> None:
        put = self.queues[0].put
        if isinstance(self.source, AsyncIterator):
            async for item in self.source:
                if self.stopping:
                    break
                await put(item)
        else:
            for count, item in enumerate(self.source):
                if self.stopping:
                    break
                await put(item)
                if count % 256 == 255:
                    await asyncio.sleep(0)  # a synchronous source must not starve the loop
        for _ in range(self.stages[0].concurrency):
            await put(_END)

    async def _close_after(self, workers: list[asyncio.Task[None]], next_stage: int) -> None:
        await asyncio.gather(*workers)
        if next_stage < len(self.stages):
            for _ in range(self.stages[next_stage].concurrency):
                await self.queues[next_stage].put(_END)

    async def _work(self, stage: Stage, inbox: asyncio.Queue[Any], emit: Emit) -> None:
        get, process, droppable = inbox.get, stage.process, stage.drop_on_stop
        while (item := await get()) is not _END:
            if not (droppable and self.stopping):
                await process(item, emit)
