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
from tests.vllm_support.load import wait_until

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


class Server:
    """A scripted vLLM scheduler: a batch of ``capacity`` sequences, the rest waits.

    Requests hold ``n`` sequences each; ``in_transit`` of ours have not reached it yet.
    """

    def __init__(self, capacity: int, n: int = 1, kv_cache_usage: float = 0.1):
        self.capacity = capacity
        self.n = n
        self.kv_cache_usage = kv_cache_usage

    def load(self, in_flight: int, in_transit: int = 0) -> ServerLoad:
        sequences = (in_flight - in_transit) * self.n
        running = min(self.capacity, sequences)
        return ServerLoad(running, sequences - running, self.kv_cache_usage)


def steer(
    controller: SaturationController, server: Server, steps: int, finish: int = 100, **load: int
) -> list[int]:
    """``steps`` scrapes of an engine with more work than the ceiling: the ceiling after each.

    Between scrapes ``finish`` requests complete, and the limiter refills up to the ceiling:
    after a cut, what is in flight comes down only as requests finish.
    """
    concurrency = controller.concurrency
    ceilings = []
    for _ in range(steps):
        concurrency.in_flight = max(controller.ceiling, concurrency.in_flight - finish)
        ceilings.append(controller.update(server.load(concurrency.in_flight, **load)))
    return ceilings


def controller_at(initial: int, maximum: int = 256, **options: float) -> SaturationController:
    controller = SaturationController(AIMDConcurrency(maximum=256), maximum, **options)
    controller.set_ceiling(initial)
    return controller


def test_ceiling_doubles_until_requests_first_wait_capped_by_the_maximum():
    controller = controller_at(8, maximum=100)
    assert steer(controller, Server(capacity=1000), 5) == [16, 32, 64, 100, 100]
    assert not controller.queued


def test_ceiling_settles_at_the_batch_plus_a_quarter_of_it_waiting_and_stays():
    controller = controller_at(8)
    ceilings = steer(controller, Server(capacity=16), 20)
    assert ceilings[:2] == [16, 32]  # doubling until the first queue (at 32 in flight)
    assert controller.capacity == 16 and controller.queue == 4
    assert ceilings[-10:] == [20] * 10  # 16 running, 4 waiting
    assert max(ceilings[2:]) <= 32  # never past the first queue


def test_queue_share_is_configurable_and_zero_means_no_queue():
    assert steer(controller_at(8, queue_share=0.5), Server(capacity=16), 20)[-1] == 24
    assert steer(controller_at(8, queue_share=0.0), Server(capacity=16), 20)[-1] == 16


def test_a_cut_is_not_repeated_while_in_flight_drains_to_it():
    # Slow requests: one finishes between two scrapes, 32 in flight come down to 20 slowly.
    controller = controller_at(8)
    ceilings = steer(controller, Server(capacity=16), 40, finish=1)
    assert ceilings[:2] == [16, 32]
    assert min(ceilings[2:]) >= 16 + 4  # never cut below the batch plus its queue
    assert ceilings[-10:] == [20] * 10
    assert controller.concurrency.in_flight == 20


def test_requests_with_n_samples_count_as_n_sequences():
    # 16 sequences run, 4 may wait: 5 requests of 4 samples.
    assert steer(controller_at(8), Server(capacity=16, n=4), 20)[-5:] == [5] * 5


def test_a_single_scrape_between_scheduler_steps_moves_nothing():
    controller = controller_at(8)
    steer(controller, Server(capacity=16), 20)
    controller.concurrency.in_flight = 20
    # A wave of 16 just finished; their replacements are still in transit.
    assert controller.update(ServerLoad(running=4, waiting=0, kv_cache_usage=0.1)) == 20
    assert controller.capacity == 16
    assert steer(controller, Server(capacity=16), 5) == [20] * 5


def test_requests_in_transit_are_made_up_for():
    # 6 of our requests are always between us and the scheduler (say a busy API server):
    # the server still gets its 16 running and 4 waiting.
    controller = controller_at(8)
    assert steer(controller, Server(capacity=16), 30, in_transit=6)[-5:] == [26] * 5


def test_a_smaller_batch_lowers_the_target_once_the_window_forgets_the_bigger_one():
    controller = controller_at(8, window=4)
    steer(controller, Server(capacity=16), 20)
    # Now the KV cache only fits 8 sequences at a time (long prompts, say).
    assert steer(controller, Server(capacity=8), 20)[-5:] == [10] * 5
    assert controller.capacity == 8


def test_a_full_kv_cache_stops_growth_but_not_cuts():
    controller = controller_at(8)
    steer(controller, Server(capacity=16), 20)
    full = Server(capacity=64, kv_cache_usage=0.95)  # room in the batch, none in the cache
    assert steer(controller, full, 10) == [20] * 10
    assert steer(controller_at(8), Server(capacity=4, kv_cache_usage=0.95), 10)[-1] < 8


def test_no_growth_without_demand():
    controller = controller_at(8)
    controller.concurrency.in_flight = 3  # the engine has no more work to send
    assert controller.update(ServerLoad(running=3, waiting=0, kv_cache_usage=0.0)) == 8
    controller.concurrency.in_flight = 8
    controller.update(ServerLoad(running=8, waiting=2, kv_cache_usage=0.0))  # batch of 8
    for _ in range(5):
        controller.concurrency.in_flight = 4
        assert controller.update(ServerLoad(running=4, waiting=0, kv_cache_usage=0.0)) == 8


def test_ceiling_never_drops_below_the_minimum():
    concurrency = AIMDConcurrency(maximum=64, minimum=2)
    controller = SaturationController(concurrency, maximum=64)
    controller.set_ceiling(4)
    for _ in range(5):
        concurrency.in_flight = controller.ceiling
        controller.update(ServerLoad(running=1, waiting=500, kv_cache_usage=1.0))
    assert controller.ceiling == 2


async def test_a_completion_is_replaced_at_once_and_a_raised_ceiling_admits_at_once():
    concurrency = AIMDConcurrency(maximum=256)
    controller = SaturationController(concurrency, maximum=256)
    controller.set_ceiling(2)
    for _ in range(2):
        await concurrency.acquire()
    waiters = [asyncio.ensure_future(concurrency.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    concurrency.release()  # a completion: the next request goes out without a scrape
    await asyncio.sleep(0)
    assert [w.done() for w in waiters] == [True, False, False]
    controller.update(ServerLoad(running=2, waiting=0, kv_cache_usage=0.0))  # doubles to 4
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
        f"http://127.0.0.1:{bound_port(runner)}", concurrency, maximum=512, interval_s=0.01
    )
    concurrency.in_flight = 512  # an engine with plenty of work
    await steering.start()
    try:
        # Two good pages, then broken ones.
        await wait_until(lambda: steering.scrape_errors >= 3, "three failed scrapes")
    finally:
        await steering.close()
        await runner.cleanup()
    history = list(steering.controller.history)
    assert [o.ceiling for o in history] == [8, 16]  # two good scrapes: doubled twice
    assert concurrency.ceiling == 32  # then held
    assert history[0].running == 16.0 and history[0].waiting == 0.0
