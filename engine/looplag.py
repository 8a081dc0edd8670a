"""Event-loop lag: how late a periodic timer runs, over a recent window.

Anything that holds the event loop (a CPU-bound check in a callback, a blocking call) delays
every request in flight. A timer due every ``interval_s`` measures that directly: how long
after its due time it ran is how long any callback due then waited. The figures are a lower
bound of a stall: one that starts just after a tick shows as its length minus ``interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import msgspec


class LoopLagStats(msgspec.Struct):
    """Lag of the timer's runs in the window (``samples`` of them; 0 when not running)."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    samples: int


class LoopLag:
    """Samples the running loop's lag every ``interval_s``; keeps the last ``window_s``."""

    def __init__(self, interval_s: float = 0.02, window_s: float = 60.0):
        self.interval_s = interval_s
        self._lags: deque[float] = deque(maxlen=max(1, round(window_s / interval_s)))
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.ensure_future(self._sample())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sample(self) -> None:
        while True:
            due = time.monotonic() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self._lags.append(max(0.0, time.monotonic() - due))

    def stats(self) -> LoopLagStats:
        lags = sorted(self._lags)
        if not lags:
            return LoopLagStats(0.0, 0.0, 0.0, 0)

        def ms(quantile: float) -> float:
            return round(1000 * lags[min(len(lags) - 1, int(quantile * len(lags)))], 3)

        return LoopLagStats(ms(0.5), ms(0.99), round(1000 * lags[-1], 3), len(lags))
