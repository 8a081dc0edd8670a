"""Waiting on progress, never on time: a condition polled until it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sandbox import Pool


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    """Return as soon as ``condition()`` holds; fail after ``timeout_s`` (a hang, not a pace)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"{what} did not happen within {timeout_s:g} s"
        await asyncio.sleep(0.005)


async def job_running(pool: Pool, jobs: int = 1) -> None:
    """Until ``jobs`` runners are leased to jobs (their programs sent to the runner)."""
    await until(lambda: pool.running == jobs, f"{jobs} running job(s)")
