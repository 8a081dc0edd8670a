"""One RPM/TPM budget for every partition worker of a job: a Ray actor the workers lease
tokens from in batches (engine.backends.limits.LeasedBucket), and the Retry-After pause one of
them was told, handed to the rest with their next lease."""

from __future__ import annotations

import time
from typing import Any

from engine.backends.limits import Kind, Lease, LeasedBucket, RequestLimiter, use_buckets

LEASE_S = 0.25  # a lease is about this long of a worker's share of the rate
BURST_S = 1.0  # the budget holds at most this long of its rate


class _Refill:
    """``per_minute`` units a minute, in bursts of at most BURST_S worth: N workers starting
    together must not spend a minute's budget in their first second, which a server that
    smooths its per-minute limit (as the mock does) answers with 429s."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * BURST_S)
        self.level = self.capacity
        self.stamp = time.monotonic()

    def grant(self, amount: float) -> Lease:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        granted = max(0.0, min(amount, self.level))
        self.level -= granted
        return Lease(granted, (amount - granted) / self.rate if granted < amount else 0.0)


class GlobalBudget:
    """The job's budget: ``lease`` hands out units of ``requests`` or ``tokens``; ``pause``
    holds everyone (a 429's Retry-After)."""

    def __init__(self, rpm: int, tpm: int):
        self.buckets = {kind: _Refill(n) for kind, n in (("requests", rpm), ("tokens", tpm)) if n}
        self.paused_until = 0.0
        self.leases = 0

    def lease(self, kind: Kind, amount: float) -> Lease:
        self.leases += 1
        if (pause := self.paused_until - time.monotonic()) > 0:
            return Lease(0.0, pause, pause)
        bucket = self.buckets.get(kind)
        return bucket.grant(amount) if bucket else Lease(amount)

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def count(self) -> int:
        return self.leases


def lease_from(budget: Any, workers: int) -> None:
    """Make every request limiter of this process lease from ``budget`` (a GlobalBudget actor
    handle), in batches of about LEASE_S of this worker's share of the rate."""

    async def lease(kind: Kind, amount: float) -> Lease:
        return await budget.lease.remote(kind, amount)

    def buckets(kind: Kind, per_minute: int, limiter: RequestLimiter) -> LeasedBucket:
        limiter.on_pause = budget.pause.remote  # fire and forget: the others hear it on lease
        batch = max(1.0, per_minute / 60 * LEASE_S / workers)
        paused = lambda seconds: limiter.pause(seconds, shared=False)  # noqa: E731
        return LeasedBucket(kind, per_minute, lease, batch, paused)

    use_buckets(buckets)
