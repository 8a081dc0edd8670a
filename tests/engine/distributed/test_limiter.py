"""The global budget and the leased buckets, without Ray: workers sharing one budget never get
more than its rate (plus one burst), lease in batches, and hear a Retry-After pause on their
next lease; ``--ray`` without Ray installed, and ``--workers`` without ``--ray``, are one-line
usage errors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from engine.backends.limits import LeasedBucket, RequestLimiter, local_bucket, use_buckets
from engine.distributed.limiter import LEASE_S, GlobalBudget
from tests.helpers import recipe_toml, run_cli, write_questions


class _Handle:
    """A GlobalBudget behind awaitable calls, as a Ray actor handle is (``x.remote(...)``)."""

    def __init__(self, budget: GlobalBudget):
        self.budget = budget
        self.lease = self._method(budget.lease)
        self.pause = self._method(budget.pause)

    @staticmethod
    def _method(function):
        class Remote:
            @staticmethod
            def remote(*args):
                future = asyncio.get_running_loop().create_future()
                future.set_result(function(*args))
                return future

        return Remote


@pytest.fixture
def shared():
    budget = GlobalBudget(rpm=1200, tpm=0)  # 20 a second, bursts of 20
    yield budget
    use_buckets(local_bucket)


async def test_workers_sharing_a_budget_never_exceed_its_rate(shared):
    from engine.distributed.limiter import lease_from

    lease_from(_Handle(shared), workers=4)
    limiters = [RequestLimiter(1200, 0, 64) for _ in range(4)]
    sent = 0

    async def worker(limiter: RequestLimiter) -> None:
        nonlocal sent
        for _ in range(15):
            await limiter.acquire(0)
            sent += 1
            limiter.release(estimated_tokens=0, used_tokens=None, overloaded=False)

    start = time.monotonic()
    await asyncio.gather(*(worker(limiter) for limiter in limiters))
    elapsed = time.monotonic() - start
    assert sent == 60
    assert sent <= 20 + 20 * elapsed + 4  # one burst, the rate, and one lease held per worker
    assert elapsed >= (60 - 20 - 4) / 20 * 0.9  # they did wait for the budget
    assert shared.leases >= 60 // max(1, int(20 * LEASE_S / 4))  # batches, not one global take


async def test_a_pause_told_to_one_worker_holds_the_others_at_their_next_lease(shared):
    from engine.distributed.limiter import lease_from

    handle = _Handle(shared)
    lease_from(handle, workers=2)
    first, second = RequestLimiter(1200, 0, 8), RequestLimiter(1200, 0, 8)
    first.pause(0.3)  # a 429's Retry-After, told to the first worker
    assert shared.paused_until > time.monotonic()
    start = time.monotonic()
    await second.acquire(0)
    assert time.monotonic() - start >= 0.25  # the second waited for the shared pause


async def test_a_lease_carries_a_batch_and_debt_is_paid_from_the_next():
    budget = GlobalBudget(rpm=0, tpm=60_000)  # 1000 tokens a second
    handle = _Handle(budget)
    paused = []
    bucket = LeasedBucket("tokens", 60_000, handle.lease.remote, 250, paused.append)
    await bucket.take(100)
    assert budget.leases == 1 and bucket.level == 150  # one lease of a batch
    await bucket.take(100)
    assert budget.leases == 1
    bucket.settle(300)  # used 300 more than estimated: a debt
    await bucket.take(10)
    assert budget.leases == 2 and paused == []


def test_ray_missing_is_a_one_line_usage_error(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None; from engine.cli import main; "
        f"sys.exit(main(['run', '--config', {str(tmp_path / 'r.toml')!r}, '--ray']))"
    )
    questions = write_questions(tmp_path / "q.jsonl", 2)
    (tmp_path / "r.toml").write_text(
        recipe_toml("http://127.0.0.1:9/v1", questions, tmp_path / "o")
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: --ray needs Ray, which is not installed: pip install 'thoughtmill[ray]'"
    )
    workers = run_cli("run", "--config", str(tmp_path / "r.toml"), "--workers", "3")
    assert workers.returncode == 2 and "--workers goes with --ray" in workers.stderr
    both = run_cli("run", "--config", str(tmp_path / "r.toml"), "--ray", "--partition", "0/2")
    assert both.returncode == 2 and "not --partition" in both.stderr
