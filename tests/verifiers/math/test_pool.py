"""Sympy worker processes: hard timeouts, crash recovery, threads and asyncio."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifiers.math import MathVerifierPool, verify

# 10^(10^(10^10)) has no numeric value here, so it reaches sympy, which tries to build it.
PATHOLOGICAL = (r"\boxed{10^{10^{10^{10}}}}", r"10^{10^{10^{10}}}+1")
NEEDS_SYMPY = [  # equal, but only sympy (or sample points) can say so
    (r"\boxed{\frac{\cos x}{\sin x}}", r"\cot x"),
    (r"\boxed{\sin(\pi)}", "0"),
    (r"\boxed{2\sin x \cos x}", r"\sin 2x"),
    (r"\boxed{\ln(e^2)}", "2"),
]
FAST = [
    (r"\boxed{0.5}", r"\frac12"),
    (r"\boxed{\frac{3}{4}\sqrt3}", r"\frac{3\sqrt{3}}{4}"),
    (r"\boxed{4}", r"4\sqrt2"),
    (r"\boxed{1-1/e}", "1+1/e"),
]


def _worker_pids() -> list[int]:
    """Live math worker processes started by this test process."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"verifiers.math.worker" in cmdline:
            pids.append(int(proc.name))
    return pids


def test_pathological_input_times_out_and_does_not_block_others() -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(4) as threads:
        hang = threads.submit(verify, *PATHOLOGICAL, timeout=1.5)
        others = [threads.submit(verify, r, g) for r, g in FAST * 10]
        fast_verdicts = [f.result() for f in others]
        fast_done = time.monotonic() - started
        verdict = hang.result()
    assert verdict.status == "timeout"
    assert "worker killed" in verdict.detail
    assert time.monotonic() - started < 1.5 + 10  # killed at its deadline, not left running
    assert fast_done < 1.5  # the fast paths never waited for the stuck worker
    assert [v.passed for v in fast_verdicts] == [True, True, False, False] * 10
    # The killed worker was replaced: sympy work still gets done.
    assert all(verify(r, g).passed for r, g in NEEDS_SYMPY)


def test_verify_from_many_threads_matches_sequential() -> None:
    pairs = (NEEDS_SYMPY + FAST) * 6
    expected = [verify(r, g) for r, g in pairs]
    with ThreadPoolExecutor(8) as threads:
        assert list(threads.map(lambda p: verify(*p), pairs)) == expected
    assert threading.current_thread() is threading.main_thread()
    assert {v.method.split("/")[1] for v in expected} >= {"sympy", "exact", "numeric"}


async def test_async_pool_verify_and_verify_many() -> None:
    pairs = (NEEDS_SYMPY + FAST) * 3
    async with MathVerifierPool(workers=2, timeout=5.0) as pool:
        many = await pool.verify_many(pairs)
        single = await asyncio.gather(*(pool.verify(r, g) for r, g in pairs))
    assert many == single == [verify(r, g) for r, g in pairs]
    assert [v.passed for v in many[:8]] == [True] * 6 + [False] * 2


async def test_async_pool_timeout_then_recovers() -> None:
    async with MathVerifierPool(workers=1, timeout=1.0) as pool:
        started = time.monotonic()
        stuck, fast = await asyncio.gather(pool.verify(*PATHOLOGICAL), pool.verify(*FAST[0]))
        assert stuck.status == "timeout"
        assert fast.passed
        assert time.monotonic() - started < 8
        assert (await pool.verify(*NEEDS_SYMPY[0])).passed


async def test_worker_killed_mid_job_is_infra_error_then_replaced() -> None:
    before = set(_worker_pids())  # the shared pool of verify() may have workers too
    async with MathVerifierPool(workers=1, timeout=30.0) as pool:
        assert set(_worker_pids()) == before  # workers start on first need
        assert (await pool.verify(*NEEDS_SYMPY[1])).passed
        (pid,) = set(_worker_pids()) - before
        job = asyncio.create_task(pool.verify(*PATHOLOGICAL))
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        verdict = await job
        assert verdict.status == "infra_error"
        assert "math worker exited" in verdict.detail
        assert (await pool.verify(*NEEDS_SYMPY[1])).passed
        assert len(set(_worker_pids()) - before) == 1
    assert set(_worker_pids()) - before == set()


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        MathVerifierPool(timeout=0)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        MathVerifierPool(workers=0)
