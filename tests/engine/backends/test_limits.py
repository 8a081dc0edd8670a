"""Client-side limits: header parsing, token buckets, AIMD concurrency."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from engine.backends.limits import (
    AIMDConcurrency,
    RequestLimiter,
    TokenBucket,
    parse_duration,
    retry_after,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1.5", 1.5), ("20ms", 0.02), ("6m0s", 360.0), ("1h2m3s", 3723.0), ("2s", 2.0), ("x", None)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_forms():
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "3"}) == 3.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after({"retry-after": later}) <= 31
    assert retry_after({}) is None


async def test_token_bucket_spreads_a_burst():
    bucket = TokenBucket(per_minute=600)  # 10/s, capacity 600
    bucket.level = 0
    started = time.monotonic()
    for _ in range(3):
        await bucket.take(1)
    assert 0.25 <= time.monotonic() - started < 1.0


async def test_token_bucket_lets_an_oversized_request_through_into_debt():
    bucket = TokenBucket(per_minute=60)
    await bucket.take(500)  # larger than capacity: waits for a full bucket, then goes negative
    assert bucket.level < 0
    bucket.settle(-500)  # refund: actual usage was lower
    assert bucket.level > 0


async def test_aimd_halves_once_per_cooldown_and_grows_back():
    aimd = AIMDConcurrency(maximum=64, minimum=2, cooldown_s=0.05)
    assert aimd.shrink() and aimd.limit == 32
    assert not aimd.shrink()  # same congestion episode
    await asyncio.sleep(0.06)
    assert aimd.shrink() and aimd.limit == 16
    for _ in range(200):
        aimd.grow()
    assert 16 < aimd.limit <= 64


async def test_aimd_gates_waiters_in_order():
    aimd = AIMDConcurrency(maximum=2)
    order = []

    async def task(i):
        await aimd.acquire()
        order.append(i)
        await asyncio.sleep(0.01)
        aimd.release()

    await asyncio.gather(*(task(i) for i in range(6)))
    assert order == list(range(6)) and aimd.in_flight == 0


async def test_cancelled_waiter_does_not_leak_a_slot():
    aimd = AIMDConcurrency(maximum=1)
    await aimd.acquire()
    waiter = asyncio.ensure_future(aimd.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    aimd.release()
    await asyncio.sleep(0)
    assert aimd.in_flight == 0
    await asyncio.wait_for(aimd.acquire(), 1)


async def test_exhausted_ratelimit_headers_pause_new_requests():
    limiter = RequestLimiter(rpm=1000, tpm=0, max_in_flight=8)
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "300ms"}
    limiter.observe_headers(headers | {"x-ratelimit-limit-requests": "500"})
    assert limiter.requests is not None and limiter.requests.capacity == 500
    started = time.monotonic()
    await limiter.acquire(10)
    assert time.monotonic() - started >= 0.25
