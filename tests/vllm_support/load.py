"""Engine-like load on a backend: ``workers`` loops, each sending one request after another
(as the engine's generate stage does), until a request count, a deadline or a condition is
reached; and a wait on state (not on a guessed sleep)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

from engine.backends.base import Backend, Generation, GenerationRequest
from engine.records import Message


def request(i: int, max_tokens: int = 32) -> GenerationRequest:
    """Request ``i``: its own prompt and seed, one sample."""
    return GenerationRequest([Message("user", f"Question {i}: what is {i} + 1?")], [i], max_tokens)


async def drive(
    backend: Backend,
    workers: int,
    *,
    requests: int | None = None,
    seconds: float | None = None,
    until: Callable[[], bool] = lambda: False,
    max_tokens: int = 32,
) -> list[Generation]:
    """The generations of every request sent (all of them finish, even past the deadline or
    once ``until()`` holds)."""
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")
    numbers = itertools.islice(itertools.count(), requests)
    results: list[Generation] = []

    async def worker() -> None:
        for i in numbers:
            if time.monotonic() >= deadline or until():
                return
            results.append(await backend.generate(request(i, max_tokens)))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``condition`` until it holds; ``timeout_s`` is only a safety net against a hang."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        await asyncio.sleep(0.01)
