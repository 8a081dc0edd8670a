"""Concurrency steered by a vLLM server's own /metrics: keep it saturated without queueing.

A hard-coded in-flight count (say 2x max_num_seqs) either starves a fast server or builds a
queue on a slow one. Instead, read what the server reports every ``interval_s``:
``vllm:num_requests_waiting`` (requests it has accepted but not scheduled) and
``vllm:kv_cache_usage_perc``. While nothing waits, the KV cache has room and all our slots are
busy, the in-flight ceiling grows (doubling until the first queue, then a sixteenth at a time);
as soon as requests wait, it drops to the share the server is running and holds a few steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque

import aiohttp
import msgspec

from engine.backends.limits import AIMDConcurrency

log = logging.getLogger(__name__)

_GAUGES = {
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
    "vllm:kv_cache_usage_perc": "kv_cache_usage",
    "vllm:gpu_cache_usage_perc": "kv_cache_usage",  # the name before vLLM 0.10
}


class MetricsError(ValueError):
    """A /metrics page without vLLM's scheduler gauges."""


class ServerLoad(msgspec.Struct):
    """Scheduler state summed over engines (data-parallel ranks); KV usage is the fullest."""

    running: float
    waiting: float
    kv_cache_usage: float


def parse_vllm_metrics(text: str) -> ServerLoad:
    """Read the scheduler gauges from a Prometheus text page."""
    totals = {"running": 0.0, "waiting": 0.0}
    kv_usage = 0.0
    seen: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        name, _, rest = line.partition("{")
        if rest:
            rest = rest.rpartition("}")[2]
        else:
            name, _, rest = line.partition(" ")
        field = _GAUGES.get(name.strip())
        if field is None:
            continue
        try:
            value = float(rest.split()[0])
        except (IndexError, ValueError):
            raise MetricsError(f"unreadable sample: {line!r}") from None
        seen.add(field)
        if field == "kv_cache_usage":
            kv_usage = max(kv_usage, value)
        else:
            totals[field] += value
    if not {"running", "waiting"} <= seen:
        raise MetricsError("no vllm:num_requests_running / vllm:num_requests_waiting gauges")
    return ServerLoad(totals["running"], totals["waiting"], kv_usage)


class Observation(msgspec.Struct, array_like=True):
    """One control step: when, our in-flight count and ceiling, and the server's load."""

    t: float
    in_flight: int
    ceiling: int
    running: float
    waiting: float
    kv_cache_usage: float


class SaturationController:
    """Moves an AIMD ceiling from server load; pure decisions, no I/O (see ``update``)."""

    def __init__(
        self,
        concurrency: AIMDConcurrency,
        maximum: int,
        *,
        kv_cache_high: float = 0.9,
        hold_steps: int = 4,
        history: int = 100_000,
    ):
        self.concurrency = concurrency
        self.maximum = maximum
        self.kv_cache_high = kv_cache_high
        self.hold_steps = hold_steps
        self.slow_start = True
        self._hold = 0
        self.started = time.monotonic()
        self.history: deque[Observation] = deque(maxlen=history)

    @property
    def ceiling(self) -> int:
        return self.concurrency.ceiling

    def set_ceiling(self, ceiling: int) -> None:
        """Move both the AIMD limit and its maximum (AIMD alone would creep up one per RTT)."""
        ceiling = max(self.concurrency.minimum, min(self.maximum, ceiling))
        self.concurrency.limit = float(ceiling)
        self.concurrency.set_maximum(ceiling)

    def update(self, load: ServerLoad) -> int:
        """One control step; returns the new ceiling."""
        c = self.concurrency
        self.history.append(
            Observation(
                round(time.monotonic() - self.started, 3), c.in_flight, c.ceiling,
                load.running, load.waiting, load.kv_cache_usage,
            )
        )  # fmt: skip
        if load.waiting > 0:
            # Requests queue: keep the share the server runs (in its units: a request with n
            # samples is n sequences there), and wait before growing again.
            self.slow_start = False
            self._hold = self.hold_steps
            running_share = load.running / (load.running + load.waiting)
            self.set_ceiling(min(c.ceiling, int(c.in_flight * running_share)))
        elif self._hold > 0:
            self._hold -= 1
        elif load.kv_cache_usage < self.kv_cache_high and c.in_flight >= c.ceiling:
            step = c.ceiling if self.slow_start else max(1, c.ceiling // 16)
            self.set_ceiling(c.ceiling + step)
        return c.ceiling


class VLLMMetricsSteering:
    """Scrapes ``{root}/metrics`` every ``interval_s`` and feeds a SaturationController.

    A failed scrape changes nothing (the ceiling holds); the AIMD limiter still halves on 429s.
    """

    def __init__(
        self,
        root_url: str,
        concurrency: AIMDConcurrency,
        maximum: int,
        initial: int = 8,
        interval_s: float = 0.5,
    ):
        self.url = root_url.rstrip("/") + "/metrics"
        self.interval_s = interval_s
        self.controller = SaturationController(concurrency, maximum)
        self.controller.set_ceiling(initial)
        self.scrape_errors = 0
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=max(1.0, 2 * self.interval_s))
        self._session = aiohttp.ClientSession(timeout=timeout)
        self._task = asyncio.ensure_future(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def scrape(self) -> ServerLoad:
        assert self._session is not None, "steering not started"
        async with self._session.get(self.url) as response:
            if response.status != 200:
                raise MetricsError(f"{self.url}: HTTP {response.status}")
            return parse_vllm_metrics(await response.text())

    async def _loop(self) -> None:
        while True:
            try:
                self.controller.update(await self.scrape())
            except (aiohttp.ClientError, asyncio.TimeoutError, MetricsError) as error:
                self.scrape_errors += 1
                if self.scrape_errors in (1, 10, 100):
                    log.warning("cannot read %s (%s); in-flight ceiling holds", self.url, error)
            await asyncio.sleep(self.interval_s)
