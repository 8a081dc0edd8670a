"""Event-loop lag as a request in flight feels it: how late a periodic timer wakes up."""

from __future__ import annotations

import asyncio
import statistics
import time


class LoopLag:
    """Samples the running loop's lag every ``interval`` seconds while entered.

    ``async with LoopLag() as lag: ...`` then ``lag.summary()``: p50, p99 and max in ms. Lag is
    the wake-up time minus the time asked for, so anything holding the loop (a slow callback, a
    CPU-bound check on the loop thread) shows up in full.
    """

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.ensure_future(self._sample())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        clock, append = time.perf_counter, self.samples.append
        while True:
            asked = clock() + self.interval
            await asyncio.sleep(self.interval)
            append(max(0.0, clock() - asked))

    def summary(self) -> dict[str, float]:
        """``lag_p50_ms``, ``lag_p99_ms`` and ``lag_max_ms`` (zeros when nothing was sampled)."""
        if len(self.samples) < 2:
            return {"lag_p50_ms": 0.0, "lag_p99_ms": 0.0, "lag_max_ms": 0.0}
        cuts = statistics.quantiles(self.samples, n=100)
        return {
            "lag_p50_ms": 1000 * cuts[49],
            "lag_p99_ms": 1000 * cuts[98],
            "lag_max_ms": 1000 * max(self.samples),
        }
