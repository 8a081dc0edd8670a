"""Worker processes: the whole check off the event loop, hard budgets, crash recovery, no leaks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifiers.math import MathVerifierPool, clear_caches, verify

ROOT = Path(__file__).resolve().parents[3]
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


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], limit_s: float = 30.0) -> list[int]:
    """The pids still alive after waiting up to ``limit_s`` (a generous bound, not a timing)."""
    deadline = time.monotonic() + limit_s
    while (alive := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


def test_hostile_check_does_not_block_other_threads() -> None:
    with ThreadPoolExecutor(4) as threads:
        hang = threads.submit(verify, *PATHOLOGICAL, timeout=60)
        fast_verdicts = [verify(r, g) for r, g in FAST * 10]
        assert not hang.done()  # the easy checks finished while the hostile one still ran
        clear_caches()  # closes the shared pool: its workers are killed
        verdict = hang.result()
    assert verdict.status == "infra_error"
    assert "pool closed" in verdict.detail
    assert [v.passed for v in fast_verdicts] == [True, True, False, False] * 10
    assert all(verify(r, g).passed for r, g in NEEDS_SYMPY)  # a new shared pool started


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


async def test_bad_gold_raises_in_the_caller() -> None:
    async with MathVerifierPool(workers=1) as pool:
        with pytest.raises(ValueError, match="gold answer is empty"):
            await pool.verify(r"\boxed{1}", r"\boxed{}")
        assert (await pool.verify(r"\boxed{1}", "1")).passed


async def test_timeout_is_the_budget_then_the_worker_is_replaced() -> None:
    async with MathVerifierPool(workers=1, timeout=1.0) as pool:
        (first,) = pool.worker_pids
        started = time.monotonic()
        stuck = await pool.verify(*PATHOLOGICAL)
        assert stuck.status == "timeout"
        assert time.monotonic() - started >= 1.0  # not before its budget
        assert "longer than 1s" in stuck.detail
        assert (await pool.verify(*NEEDS_SYMPY[0], timeout=60)).passed
        assert pool.worker_pids != [first]
        assert _wait_gone([first]) == []


async def test_hostile_check_does_not_delay_easy_ones_queued_with_it() -> None:
    """With two workers, some easy checks are queued behind the hostile one in its worker
    (the hostile check is submitted first, in the same loop iteration): they are moved to the
    other worker and complete while the hostile one still runs."""
    async with MathVerifierPool(workers=2, timeout=60.0) as pool:
        slow = asyncio.ensure_future(pool.verify(*PATHOLOGICAL))
        quick = [asyncio.ensure_future(pool.verify(r, g)) for r, g in FAST * 8]
        while not any(worker.checks for worker in pool._workers):
            await asyncio.sleep(0)
        hostile_worker = next(w for w in pool._workers if w.checks)
        assert len(hostile_worker.checks) > 1  # easy checks really were queued behind it
        verdicts = await asyncio.gather(*quick)
        assert not slow.done()
    assert [v.passed for v in verdicts] == [True, True, False, False] * 8
    assert (await slow).status == "infra_error"  # the pool closed under it


@pytest.mark.parametrize(
    "hostile",
    [r"\boxed{x^{99999999}}", r"\boxed{10^{-10^{6}}}", r"\boxed{" + "(" * 3000 + "1" + ")" * 3000
     + "}", "x " * 500_000 + r"\boxed{" + "9" * 5000 + "}"],
    ids=["huge-exponent", "tiny-power", "deep-nesting", "megabyte"],
)  # fmt: skip
async def test_hostile_answers_never_block_the_loop(hostile: str) -> None:
    """The event loop keeps running while a hostile check is in a worker; the check ends as
    a verdict (usually wrong_answer, fast) or a timeout within its budget."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async with MathVerifierPool(workers=1, timeout=3.0) as pool:
        task = asyncio.ensure_future(ticker())
        verdict = await pool.verify(hostile, "5")
        task.cancel()
    assert verdict.status in ("wrong_answer", "timeout", "no_answer")
    assert ticks > 1  # the loop ran other work while the check was in the worker


async def test_worker_killed_mid_check_is_infra_error_then_replaced() -> None:
    async with MathVerifierPool(workers=1, timeout=60.0) as pool:
        assert (await pool.verify(*NEEDS_SYMPY[1])).passed
        (pid,) = pool.worker_pids
        job = asyncio.ensure_future(pool.verify(*PATHOLOGICAL))
        behind = asyncio.ensure_future(pool.verify(*FAST[0]))
        while not pool._workers[0].checks:  # the hostile check reached the worker
            await asyncio.sleep(0)
        os.kill(pid, signal.SIGKILL)
        verdict = await job
        assert verdict.status == "infra_error"
        assert "math worker exited" in verdict.detail
        assert (await behind).passed  # the check queued behind it was rerun, not lost
        assert (await pool.verify(*NEEDS_SYMPY[1])).passed
        assert len(pool.worker_pids) == 1 and pool.worker_pids != [pid]
        pids = [*pool.worker_pids, pool._template.pid]
    assert _wait_gone(pids) == []


async def test_throughput_scales_across_workers_with_no_lost_checks() -> None:
    """Every check of a large burst gets its own verdict, whichever worker ran it."""
    pairs = [(rf"so \boxed{{{i}}}", str(i % 7)) for i in range(3000)]
    async with MathVerifierPool(workers=2) as pool:
        verdicts = await pool.verify_many(pairs)
    assert [v.passed for v in verdicts] == [i == i % 7 for i in range(3000)]


def test_workers_die_with_their_parent() -> None:
    """SIGKILL the process that owns a pool: its template and workers exit too."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from verifiers.math import MathVerifierPool

        async def main():
            async with MathVerifierPool(workers=2) as pool:
                await pool.verify(r"\\boxed{1}", "1")
                print(pool._template.pid, *pool.worker_pids, flush=True)
                await asyncio.sleep(3600)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
    assert parent.stdout is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(pids) == 3 and all(map(_alive, pids))
    parent.kill()
    parent.wait()
    assert _wait_gone(pids) == []


async def test_close_leaves_no_process_and_refuses_new_checks() -> None:
    pool = MathVerifierPool(workers=2)
    async with pool:
        await pool.verify(r"\boxed{1}", "1")
        pids = [pool._template.pid, *pool.worker_pids]
    assert _wait_gone(pids) == []
    with pytest.raises(RuntimeError, match="not open"):
        await pool.verify(r"\boxed{1}", "1")


def test_pool_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        MathVerifierPool(timeout=0)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        MathVerifierPool(workers=0)
