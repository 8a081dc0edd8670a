"""The /metrics parser and the saturation controller (no vLLM needed; the real server is in
test_vllm_backends.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from engine.backends.limits import AIMDConcurrency
from engine.backends.vllm_metrics import (
    MetricsError,
    SaturationController,
    ServerLoad,
    VLLMMetricsSteering,
    parse_vllm_metrics,
)
from engine.testing.mock_teacher import bound_port

# The shape vLLM 0.32 serves: HELP/TYPE lines, labels per engine, look-alike names.
PAGE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} 12.0
vllm:num_requests_running{engine="1",model_name="tiny"} 4.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny"} 3.0
vllm:num_requests_waiting{engine="1",model_name="tiny"} 0.0
vllm:num_requests_waiting_by_reason{engine="0",model_name="tiny",reason="capacity"} 99.0
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="tiny"} 0.5
process_cpu_seconds_total 7.5
"""


def test_parser_sums_engines_and_keeps_the_fullest_kv_cache():
    assert parse_vllm_metrics(PAGE) == ServerLoad(running=16.0, waiting=3.0, kv_cache_usage=0.5)


def test_parser_reads_unlabelled_samples_and_the_old_kv_name():
    page = "vllm:num_requests_running 2\nvllm:num_requests_waiting 1\nvllm:gpu_cache_usage_perc 0.7"
    assert parse_vllm_metrics(page) == ServerLoad(2.0, 1.0, 0.7)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("process_cpu_seconds_total 7.5\n", "no vllm:num_requests_running"),
        ('vllm:num_requests_running{engine="0"} many\n', "unreadable sample"),
    ],
)
def test_parser_rejects_pages_without_readable_scheduler_gauges(page, message):
    with pytest.raises(MetricsError, match=message):
        parse_vllm_metrics(page)


def saturated(concurrency: AIMDConcurrency) -> None:
    concurrency.in_flight = concurrency.ceiling


def test_ceiling_doubles_while_saturated_and_nothing_waits():
    concurrency = AIMDConcurrency(maximum=256)
    controller = SaturationController(concurrency, maximum=100)
    controller.set_ceiling(8)
    ceilings = []
    for _ in range(5):
        saturated(concurrency)
        ceilings.append(
            controller.update(
                ServerLoad(running=concurrency.in_flight, waiting=0, kv_cache_usage=0.1)
            )
        )
    assert ceilings == [16, 32, 64, 100, 100]  # capped by the configured maximum


def test_queueing_cuts_to_the_running_share_then_holds_then_grows_slowly():
    concurrency = AIMDConcurrency(maximum=256)
    controller = SaturationController(concurrency, maximum=256, hold_steps=2)
    controller.set_ceiling(40)
    saturated(concurrency)
    # n=4 per request: 40 requests are 160 sequences on the server, 64 run and 96 wait.
    assert controller.update(ServerLoad(running=64, waiting=96, kv_cache_usage=0.5)) == 16
    concurrency.in_flight = 16
    idle = ServerLoad(running=64, waiting=0, kv_cache_usage=0.5)
    assert [controller.update(idle) for _ in range(2)] == [16, 16]  # hold after a queue
    assert controller.update(idle) == 17  # no more doubling after the first queue
    assert not controller.slow_start


def test_no_growth_without_demand_or_with_a_full_kv_cache():
    concurrency = AIMDConcurrency(maximum=256)
    controller = SaturationController(concurrency, maximum=256)
    controller.set_ceiling(8)
    concurrency.in_flight = 3  # the engine has no more work to send
    assert controller.update(ServerLoad(running=3, waiting=0, kv_cache_usage=0.0)) == 8
    saturated(concurrency)
    assert controller.update(ServerLoad(running=8, waiting=0, kv_cache_usage=0.95)) == 8


def test_ceiling_never_drops_below_the_minimum():
    concurrency = AIMDConcurrency(maximum=64, minimum=2)
    controller = SaturationController(concurrency, maximum=64)
    controller.set_ceiling(4)
    concurrency.in_flight = 4
    assert controller.update(ServerLoad(running=1, waiting=500, kv_cache_usage=1.0)) == 2


async def test_a_raised_ceiling_admits_waiting_requests_at_once():
    concurrency = AIMDConcurrency(maximum=256)
    controller = SaturationController(concurrency, maximum=256)
    controller.set_ceiling(2)
    for _ in range(2):
        await concurrency.acquire()
    waiters = [asyncio.ensure_future(concurrency.acquire()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    controller.update(ServerLoad(running=2, waiting=0, kv_cache_usage=0.0))
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert concurrency.in_flight == 4


async def test_steering_scrapes_a_live_metrics_endpoint_and_holds_when_it_breaks():
    served = 0

    async def metrics(request: web.Request) -> web.Response:
        nonlocal served
        served += 1
        return web.Response(text=PAGE.replace(" 3.0", " 0.0") if served <= 2 else "not metrics")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    concurrency = AIMDConcurrency(maximum=512)
    steering = VLLMMetricsSteering(
        f"http://127.0.0.1:{bound_port(runner)}", concurrency, maximum=512, interval_s=0.05
    )
    concurrency.in_flight = 512  # an engine with plenty of work
    await steering.start()
    try:
        await asyncio.sleep(0.5)
    finally:
        await steering.close()
        await runner.cleanup()
    history = list(steering.controller.history)
    assert [o.ceiling for o in history] == [8, 16]  # two good scrapes: doubled twice
    assert concurrency.ceiling == 32 and steering.scrape_errors >= 3  # then held
    assert history[0].running == 16.0 and history[0].waiting == 0.0
