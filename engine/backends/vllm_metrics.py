"""Concurrency steered by a vLLM server's own /metrics: its batch always full, a short queue.

A hard-coded in-flight count (say 2x max_num_seqs) either starves a fast server or builds a
long queue on a slow one. Instead the in-flight ceiling is set so that the server runs as many
sequences as it can (``max_num_seqs``, or fewer when its KV cache is the limit) and a few more
wait in its queue (``queue_share`` of that batch, default a quarter). Those few are what refill
the batch the moment sequences finish: waiting for the next /metrics poll, or for our
replacement request to cross HTTP, would leave slots empty. Completions free a slot in the
limiter, which admits the next request at once; the scrape only moves the ceiling.

Each scrape reads ``vllm:num_requests_running``, ``vllm:num_requests_waiting`` and
``vllm:kv_cache_usage_perc``. The server's batch size is learned, not configured: while
requests wait, what runs is all it can run. Until the first queue, the ceiling doubles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
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
    """Moves an in-flight ceiling from server load; pure decisions, no I/O (see ``update``).

    The target is ``capacity + queue`` sequences on the server (running plus waiting; ours
    still in transit to or from it are made up for), with ``queue = ceil(queue_share *
    capacity)``. ``capacity`` is the most the server ran in the
    last ``window`` scrapes, known once requests have waited (before that the ceiling doubles
    while it binds). A scrape can land between two scheduler steps, just after a wave of
    sequences finished: one low ``running`` does not lower the capacity, and the ceiling moves
    only when two scrapes in a row agree, by the smaller of their steps. A step is ``gain`` times
    the gap in requests (a request with n samples is n sequences there), at least one, and
    none while the gap is under one request. A KV cache at or above ``kv_cache_high`` is the
    brake: the ceiling may fall, never rise.
    """

    def __init__(
        self,
        concurrency: AIMDConcurrency,
        maximum: int,
        *,
        queue_share: float = 0.25,
        kv_cache_high: float = 0.9,
        gain: float = 0.5,
        window: int = 8,
        history: int = 100_000,
    ):
        self.concurrency = concurrency
        self.maximum = maximum
        self.queue_share = queue_share
        self.kv_cache_high = kv_cache_high
        self.gain = gain
        self.queued = False  # requests have waited on the server: its batch size is known
        self._running: deque[float] = deque(maxlen=window)
        self._ratios: deque[float] = deque(maxlen=window)
        self._last_step = 0
        self.started = time.monotonic()
        self.history: deque[Observation] = deque(maxlen=history)

    @property
    def ceiling(self) -> int:
        return self.concurrency.ceiling

    @property
    def capacity(self) -> float:
        """Sequences the server runs at once (0 until requests have waited)."""
        return max(self._running) if self.queued else 0.0

    @property
    def per_request(self) -> float:
        """Server sequences per request we hold (a request is at least one)."""
        return max(1.0, *self._ratios)

    @property
    def queue(self) -> int:
        """Sequences allowed to wait on the server."""
        return math.ceil(self.queue_share * self.capacity)

    def set_ceiling(self, ceiling: int) -> None:
        """Move both the AIMD limit and its maximum (AIMD alone would creep up one per RTT)."""
        ceiling = max(self.concurrency.minimum, min(self.maximum, ceiling))
        self.concurrency.limit = float(ceiling)
        self.concurrency.set_maximum(ceiling)

    def _step(self, gap: float) -> int:
        """Ceiling change for a gap in requests: none under one request, else ``gain`` of it
        (at least one)."""
        if abs(gap) < 1:
            return 0
        return int(math.copysign(max(1, round(self.gain * abs(gap))), gap))

    def update(self, load: ServerLoad) -> int:
        """One control step; returns the new ceiling."""
        c = self.concurrency
        self.history.append(
            Observation(
                round(time.monotonic() - self.started, 3), c.in_flight, c.ceiling,
                load.running, load.waiting, load.kv_cache_usage,
            )
        )  # fmt: skip
        saturated = c.in_flight >= c.ceiling  # we have more work than the ceiling lets out
        braking = load.kv_cache_usage >= self.kv_cache_high
        on_server = load.running + load.waiting
        # Requests in transit only lower the ratio: the most seen lately is the best estimate.
        self._ratios.append(on_server / c.in_flight if c.in_flight else 0.0)
        self._running.append(load.running)
        self.queued |= load.waiting > 0
        if not self.queued:
            if saturated and not braking:
                self.set_ceiling(2 * c.ceiling)
            return c.ceiling
        step = self._step((self.capacity + self.queue - on_server) / self.per_request)
        agreed = min(step, self._last_step, key=abs) if step * self._last_step > 0 else 0
        self._last_step = step
        # From what is in flight, which the scrape saw: after a cut it stays above the ceiling
        # until enough requests finish, and the next cut must not count the same excess again.
        if agreed < 0 or (agreed > 0 and saturated and not braking):
            self.set_ceiling(c.in_flight + agreed)
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
        queue_share: float = 0.25,
    ):
        self.url = root_url.rstrip("/") + "/metrics"
        self.interval_s = interval_s
        self.controller = SaturationController(concurrency, maximum, queue_share=queue_share)
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
