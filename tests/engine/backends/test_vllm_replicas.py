"""Data-parallel replicas: least-outstanding balancing, health checks, a replica killed or hung
mid-job. The replicas are real mock-teacher servers on loopback (separate processes, so they can
be SIGKILLed and SIGSTOPped); the same code runs against real vLLM in test_vllm_backends.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.backends.base import BackendError
from engine.backends.replicas import ReplicaSet
from engine.build import make_backend
from engine.config import parse_recipe
from engine.job import Job
from engine.metrics import Metrics
from engine.specs import TeacherSpec
from tests.helpers import REPO, assert_exactly_once, read_samples, recipe_toml, write_questions
from tests.vllm_support.harness import free_port
from tests.vllm_support.load import drive, request, wait_until


class MockServer:
    """``python -m engine mock-teacher`` on a fixed port, so it can be restarted in place."""

    def __init__(self, *args: str):
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        command = [sys.executable, "-m", "engine", "mock-teacher", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *self.args], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()  # type: ignore[union-attr]
        assert "http://" in line, line

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)
        if number == signal.SIGKILL:
            self.process.wait()

    def requests(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/mock/stats", timeout=5) as r:
            return json.load(r).get("requests", 0)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def mock_servers(*latencies_ms: float) -> Iterator[list[MockServer]]:
    servers = [MockServer("--latency-ms", str(ms)) for ms in latencies_ms]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def teacher(urls: list[str], **overrides: object) -> TeacherSpec:
    settings: dict[str, object] = dict(
        model="mock", base_urls=urls, max_in_flight=8, health_interval_s=0.2,
        backoff_base_s=0.01, backoff_max_s=0.1, request_timeout_s=10,
    )  # fmt: skip
    settings.update(overrides)
    return TeacherSpec(**settings)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def replica_set(spec: TeacherSpec):
    backend = ReplicaSet(spec, Metrics())
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def test_least_outstanding_sends_most_requests_to_the_faster_replica():
    with mock_servers(5, 120) as (fast, slow):
        async with replica_set(teacher([fast.url, slow.url])) as backend:
            results = await drive(backend, workers=8, requests=120)
        served = [r.served for r in backend.replicas]
        assert served == [fast.requests(), slow.requests()]  # each request sent exactly once
    assert len(results) == 120
    assert sum(served) == 120 and served[0] > 4 * served[1] > 0, served


async def test_hung_replica_is_taken_out_and_its_in_flight_requests_finish_elsewhere():
    # The hung replica's 2 s replies cannot finish before it is stopped, however slow the
    # machine; a long request timeout leaves the health check as the only way they can move.
    with mock_servers(2000, 300) as (hung, healthy):
        spec = teacher([hung.url, healthy.url], request_timeout_s=120)
        async with replica_set(spec) as backend:
            first = asyncio.gather(*(backend.generate(request(i)) for i in range(8)))
            await until_held(hung, 4)  # the hung replica holds its share, so does the other
            assert [r.outstanding for r in backend.replicas] == [4, 4]
            hung.signal(signal.SIGSTOP)
            started = time.monotonic()
            results = await asyncio.wait_for(first, 60)
            moved_after = time.monotonic() - started
            assert not backend.replicas[0].healthy
            assert backend.replicas[0].served == 0 and backend.replicas[1].served == 8
            assert backend.metrics.retries == 4  # each of the hung replica's requests re-sent once
            hung.signal(signal.SIGCONT)
            await wait_until(lambda: backend.replicas[0].healthy, "a probe finds it answering")
            await asyncio.gather(*(backend.generate(request(i)) for i in range(8)))
            assert backend.replicas[0].served > 0  # taken back into rotation
    assert [len(r.completions) for r in results] == [1] * 8
    assert moved_after < spec.request_timeout_s / 2, moved_after  # by the health check


async def until_held(server: MockServer, count: int) -> None:
    """Wait until ``server`` has received ``count`` requests (asked off the event loop)."""
    deadline = time.monotonic() + 60
    while await asyncio.to_thread(server.requests) < count:
        assert time.monotonic() < deadline, f"{server.url} never got {count} requests"


async def test_all_replicas_down_is_a_typed_connection_failure_after_the_timeout():
    dead = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    async with replica_set(teacher(dead, request_timeout_s=1.0)) as backend:
        started = time.monotonic()
        with pytest.raises(BackendError) as caught:
            await backend.generate(request(0))
    assert caught.value.failure.kind == "connection"
    assert "no healthy replica" in caught.value.failure.detail
    assert 0.9 < time.monotonic() - started < 5


def test_recipes_with_base_urls_or_server_metrics_get_a_replica_set():
    assert isinstance(make_backend(teacher(["http://a/v1", "http://b/v1"]), Metrics()), ReplicaSet)
    spec = TeacherSpec(model="m", server_metrics="vllm", server_queue_share=0.5)
    steered = make_backend(spec, Metrics())
    assert isinstance(steered, ReplicaSet)
    assert [r.steering is not None for r in steered.replicas] == [True]
    assert steered.replicas[0].steering.url == "http://127.0.0.1:8000/metrics"
    assert steered.replicas[0].steering.controller.queue_share == 0.5


async def test_replica_killed_mid_job_then_restarted_loses_and_duplicates_nothing(tmp_path: Path):
    questions = write_questions(tmp_path / "q.jsonl", 600)
    with mock_servers(40, 40) as (victim, survivor):
        urls = json.dumps([victim.url, survivor.url])
        recipe = parse_recipe(
            recipe_toml(
                victim.url, questions, tmp_path / "out",
                teacher=f'model = "mock"\nbase_urls = {urls}\nmax_in_flight = 4\n'
                "health_interval_s = 0.2\nbackoff_base_s = 0.01",
                sampling="n = 2\nmax_tokens = 256",
            ),
            "replicas.toml",
        )  # fmt: skip
        job = Job(recipe)
        run = asyncio.ensure_future(job.run())
        await wait_until(lambda: job.metrics.samples_written >= 60, "60 samples written")
        victim.signal(signal.SIGKILL)  # dies holding requests
        await wait_until(lambda: job.metrics.retries > 0, "the victim's requests re-sent")
        victim.start()  # same port: the health check brings it back
        assert await asyncio.wait_for(run, 60) == 0
        after_restart = victim.requests()
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 600, 2)
    assert all(s.failure is None for s in samples)
    assert after_restart > 0, "the restarted replica never got traffic back"
