"""Client-side rate limiting: RPM/TPM token buckets, AIMD concurrency, server-announced pauses.

The buckets are pluggable (``use_buckets``): a partition worker under Ray leases its tokens from
one global limiter (engine.distributed.limiter) instead of refilling a bucket of its own, so N
workers share one RPM/TPM budget and one Retry-After pause.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, Protocol

import msgspec

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """Seconds in ``1.5``, ``20ms``, ``6m0s`` or ``1h2m3s`` form (OpenAI's reset headers)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(a + u for a, u in parts) != text:
        return None
    return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in parts)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, then ``Retry-After`` (s or date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := parse_duration(value)) is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class TokenBucket:
    """Refills ``per_minute`` units a minute up to one minute's worth; may go into debt.

    Debt lets a request larger than the bucket through once the bucket is full, and lets
    ``settle`` charge actual usage after the fact.
    """

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.level = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def set_rate(self, per_minute: float) -> None:
        self._refill()
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.level = min(self.level, self.capacity)

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, amount: float) -> None:
        """Wait until ``amount`` (capped at capacity) is available, then take it. FIFO."""
        async with self._lock:
            need = min(amount, self.capacity)
            self._refill()
            while self.level < need:
                await asyncio.sleep((need - self.level) / self.rate)
                self._refill()
            self.level -= amount

    def settle(self, delta: float) -> None:
        """Charge (positive) or refund (negative) the difference between estimate and usage."""
        self._refill()
        self.level = min(self.capacity, self.level - delta)


Kind = Literal["requests", "tokens"]


class Bucket(Protocol):
    """What a request limiter needs of an RPM or TPM budget."""

    capacity: float

    async def take(self, amount: float) -> None: ...
    def settle(self, delta: float) -> None: ...
    def set_rate(self, per_minute: float) -> None: ...


class Lease(msgspec.Struct, array_like=True):
    """A global limiter's answer: ``granted`` units now; else try again in ``wait_s``; and how
    long every worker is to hold new requests (a Retry-After one of them was told)."""

    granted: float
    wait_s: float = 0.0
    pause_s: float = 0.0


class LeasedBucket:
    """A bucket whose units come in leases of ``batch`` from a shared budget (``lease(kind,
    amount)``), so a request costs a round trip only once a batch. Usage above the estimate
    is a debt paid out of the next lease; a refund stays here for the next requests."""

    def __init__(
        self,
        kind: Kind,
        per_minute: float,
        lease: Callable[[Kind, float], Awaitable[Lease]],
        batch: float,
        on_pause: Callable[[float], None],
    ):
        self.kind = kind
        self.capacity = float(per_minute)
        self.batch = batch
        self.level = 0.0
        self._lease = lease
        self._on_pause = on_pause
        self._lock = asyncio.Lock()

    async def take(self, amount: float) -> None:
        async with self._lock:
            need = min(amount, self.capacity)
            while self.level < need:
                answer = await self._lease(self.kind, max(self.batch, need - self.level))
                if answer.pause_s > 0:
                    self._on_pause(answer.pause_s)
                self.level += answer.granted
                if self.level < need:
                    await asyncio.sleep(answer.wait_s)
            self.level -= amount

    def settle(self, delta: float) -> None:
        self.level -= delta

    def set_rate(self, per_minute: float) -> None:
        """The global limiter keeps the rate; a server's announced limit is not per worker."""


BucketFactory = Callable[[Kind, int, "RequestLimiter"], Bucket]


def local_bucket(kind: Kind, per_minute: int, limiter: RequestLimiter) -> Bucket:
    return TokenBucket(per_minute)


_buckets: BucketFactory = local_bucket


def use_buckets(factory: BucketFactory) -> None:
    """Where every request limiter made in this process from now on takes its RPM and TPM
    buckets (a Ray partition worker: from the global limiter)."""
    global _buckets
    _buckets = factory


class AIMDConcurrency:
    """In-flight limit that halves on overload and grows by about one per round trip.

    Only one decrease per ``cooldown_s``: a burst of 429s from requests already in flight
    is one congestion signal, not many.
    """

    def __init__(self, maximum: int, minimum: int = 1, cooldown_s: float = 1.0):
        self.maximum = maximum
        self.minimum = minimum
        self.limit = float(maximum)
        self.in_flight = 0
        self.cooldown_s = cooldown_s
        self._last_decrease = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def ceiling(self) -> int:
        return max(self.minimum, int(self.limit))

    async def acquire(self) -> None:
        if self.in_flight < self.ceiling and not self._waiters:
            self.in_flight += 1
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed to us just as we were cancelled
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.ceiling:
            future = self._waiters.popleft()
            if not future.done():
                self.in_flight += 1
                future.set_result(None)

    def grow(self) -> None:
        """A success: additive increase, about +1 per ``limit`` successes."""
        if self.limit < self.maximum:
            self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
            self._wake()

    def shrink(self) -> bool:
        """Overload: multiplicative decrease (once per cooldown). True when it decreased."""
        now = time.monotonic()
        if now - self._last_decrease < self.cooldown_s:
            return False
        self._last_decrease = now
        self.limit = max(float(self.minimum), self.limit / 2)
        return True

    def set_maximum(self, maximum: int) -> None:
        """Move the ceiling (e.g. steered by the server's queue); never below the minimum."""
        self.maximum = max(self.minimum, maximum)
        self.limit = min(self.limit, float(self.maximum))
        self._wake()


class RequestLimiter:
    """Everything a request waits for before it is sent: pauses, concurrency, RPM, TPM."""

    def __init__(self, rpm: int, tpm: int, max_in_flight: int, min_in_flight: int = 1):
        self.concurrency = AIMDConcurrency(max_in_flight, min_in_flight)
        self._paused_until = 0.0
        self.on_pause: Callable[[float], None] | None = None  # tell the other workers
        self.requests: Bucket | None = _buckets("requests", rpm, self) if rpm else None
        self.tokens: Bucket | None = _buckets("tokens", tpm, self) if tpm else None

    def pause(self, seconds: float, shared: bool = True) -> None:
        """Hold every new request for ``seconds`` (server said so); ``shared``: tell the other
        workers of a global limiter too."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        if shared and self.on_pause is not None:
            self.on_pause(seconds)

    async def acquire(self, estimated_tokens: int) -> None:
        while (wait := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if self.requests:
            await self.requests.take(1)
        if self.tokens:
            await self.tokens.take(estimated_tokens)
        await self.concurrency.acquire()

    def release(self, *, estimated_tokens: int, used_tokens: int | None, overloaded: bool) -> None:
        self.concurrency.release()
        if overloaded:
            self.concurrency.shrink()
        else:
            self.concurrency.grow()
        if self.tokens and used_tokens is not None:
            self.tokens.settle(used_tokens - estimated_tokens)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Honour ``x-ratelimit-*``: adopt announced limits, pause when a budget is exhausted."""
        for kind, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is not None and remaining.strip() in ("0", "0.0"):
                reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}", "1s")) or 1.0
                self.pause(reset)
            limit = headers.get(f"x-ratelimit-limit-{kind}")
            if bucket is not None and limit and limit.isdigit() and int(limit) < bucket.capacity:
                bucket.set_rate(int(limit))
