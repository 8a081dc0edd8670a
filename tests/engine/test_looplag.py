"""Event-loop lag: measured by a late timer, exported in /status and /metrics, kept by a Job."""

from __future__ import annotations

import re
import time

import aiohttp
import msgspec

from engine.dashboard.app import bound_port, make_app, start
from engine.dashboard.data import OutputView
from engine.job import Job
from engine.looplag import LoopLag, LoopLagStats
from engine.metrics import Metrics, Snapshot
from tests.helpers import write_questions
from tests.vllm_support.load import wait_until

BLOCK_S = 0.3  # how long each test holds the loop on purpose


async def hold_the_loop(lag: LoopLag) -> None:
    """Block the loop for BLOCK_S once the monitor runs, then let it record the stall."""
    await wait_until(lambda: lag.stats().samples >= 3, "the monitor samples")
    before = lag.stats().samples
    time.sleep(BLOCK_S)  # the point: nothing else runs meanwhile
    await wait_until(lambda: lag.stats().samples > before, "a sample after the stall")


def lower_bound_ms(lag: LoopLag) -> float:
    """A stall of BLOCK_S shows as at least BLOCK_S minus one sampling interval."""
    return 1000 * (BLOCK_S - lag.interval_s)


def test_quantiles_and_window_over_scripted_lags():
    lag = LoopLag(interval_s=0.01, window_s=1.0)  # keeps 100 samples
    assert lag.stats() == LoopLagStats(0.0, 0.0, 0.0, 0)
    lag._lags.extend([0.5] + [0.001 * i for i in range(1, 101)])  # the 0.5 s one falls out
    assert lag.stats() == LoopLagStats(p50_ms=51.0, p99_ms=100.0, max_ms=100.0, samples=100)


async def test_a_blocked_loop_shows_as_lag_at_least_as_long_as_the_block():
    async with LoopLag(interval_s=0.01) as lag:
        await hold_the_loop(lag)
        stats = lag.stats()
    assert stats.max_ms >= lower_bound_ms(lag), stats
    assert stats.p50_ms <= stats.p99_ms <= stats.max_ms


async def test_status_json_and_metrics_text_export_the_lag(tmp_path):
    metrics = Metrics()
    runner = await start(make_app(OutputView(tmp_path), metrics), "127.0.0.1", 0)
    root = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        async with metrics.loop_lag as lag, aiohttp.ClientSession() as session:
            await hold_the_loop(lag)
            async with session.get(f"{root}/status") as response:
                status = msgspec.json.decode(await response.read(), type=Snapshot)
            async with session.get(f"{root}/metrics") as response:
                text = await response.text()
    finally:
        await runner.cleanup()
    assert status.loop_lag.max_ms >= lower_bound_ms(lag) and status.loop_lag.samples > 3
    assert "# TYPE thoughtmill_event_loop_lag_seconds gauge" in text
    found = dict(re.findall(r'^thoughtmill_event_loop_lag_seconds\{quantile="([\d.]+)"\} (\S+)$',
                            text, re.M))  # fmt: skip
    assert set(found) == {"0.5", "0.99", "1"}
    assert float(found["1"]) >= lower_bound_ms(lag) / 1000
    assert float(found["0.5"]) <= float(found["0.99"]) <= float(found["1"])


async def test_a_job_measures_its_loop_lag_while_it_runs(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 8)
    # Replies take 100 ms, so the run lasts longer than the monitor's interval.
    async with mock_teacher(answer_key=str(questions), latency_ms=100) as mock:
        job = Job(make_recipe(mock.url, questions))
        assert await job.run() == 0
    assert job.metrics.snapshot().loop_lag.samples > 0
