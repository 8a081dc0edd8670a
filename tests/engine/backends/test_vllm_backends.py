"""Real vLLM on the CPU with a tiny random Llama: the in-process ``vllm`` backend and the
OpenAI-compatible server, through the engine.

The module starts one server and one in-process engine run together (each loads the model, tens
of seconds, so the loads overlap). The in-process run is SIGKILLed mid-job; a run against the
server resumes its output; a third, uninterrupted run against the server is the reference that
every record must match, field for field, whichever backend wrote it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp
import msgspec
import pytest

from engine.backends.base import GenerationRequest
from engine.backends.openai_http import OpenAIBackend
from engine.backends.replicas import ReplicaSet
from engine.backends.vllm_metrics import parse_vllm_metrics
from engine.config import Recipe, parse_recipe
from engine.job import Job
from engine.metrics import Snapshot
from engine.records import Message, Sample
from engine.specs import TeacherSpec
from tests.helpers import assert_exactly_once, read_samples, recipe_toml, write_questions
from tests.vllm_support import harness
from tests.vllm_support.load import drive

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

QUESTIONS = 120
N = 4
MAX_TOKENS = 24
STOP = "q"  # in about half of this model's 24-token answers: both finish reasons occur
IN_FLIGHT = 8  # slow enough that the in-process run is still going when it is killed
KILL_AFTER = 12  # records on disk
MAX_NUM_SEQS = 16  # the server's batch: more than this in flight queues there


class Runs(msgspec.Struct):
    server: harness.VLLMServer
    engine: subprocess.Popen
    status_port: int
    questions: Path
    directory: Path


def toml_value(value: object) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def recipe_text(url: str, questions: Path, out: Path, backend: str) -> str:
    """The same recipe (same hash) for the in-process backend and for the server at ``url``."""
    teacher = [f'backend = "{backend}"', f'model = "{harness.MODEL}"', f'base_url = "{url}"']
    teacher.append(f"max_in_flight = {IN_FLIGHT}")
    if backend == "vllm":
        args = ", ".join(f"{k} = {toml_value(v)}" for k, v in harness.CPU_ENGINE_ARGS.items())
        teacher.append(f"engine_args = {{ {args} }}")
    return recipe_toml(
        url,
        questions,
        out,
        teacher="\n".join(teacher),
        sampling=f'n = {N}\nmax_tokens = {MAX_TOKENS}\nstop = ["{STOP}"]',
        output=f'dir = "{out}"\nshard_records = 40\nflush_records = 4\nfsync = "flush"',
        **{"verify.math": "enabled = false"},
    )


def http_recipe(runs: Runs, out: Path) -> Recipe:
    return parse_recipe(recipe_text(runs.server.url, runs.questions, out, "openai"), "http.toml")


def count_records(directory: Path) -> int:
    return len(read_samples(directory))


def start_inproc_run(config: Path, status_port: int, log_path: Path) -> subprocess.Popen:
    """``engine serve`` (a run plus /status) in the vLLM venv, in its own process group."""
    command = [str(harness.PYTHON), "-m", "engine", "serve", "--config", str(config)]
    command += ["--quiet", "--port", str(status_port)]
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command, cwd=harness.REPO, env=harness.venv_environ(), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the server and the in-process engine run; their model loads overlap."""
    harness.require_vllm_env()
    base = tmp_path_factory.mktemp("vllm")
    server = harness.VLLMServer(base / "server.log", "--max-num-seqs", str(MAX_NUM_SEQS))
    questions = write_questions(base / "q.jsonl", QUESTIONS)
    config = base / "inproc.toml"
    config.write_text(recipe_text(server.url, questions, base / "out", "vllm"))
    status_port = harness.free_port()
    engine = start_inproc_run(config, status_port, base / "inproc.log")
    try:
        yield Runs(server, engine, status_port, questions, base)
    finally:
        harness.stop_process_group(engine)
        server.stop()


class Killed(msgspec.Struct):
    samples: list[Sample]
    status: Snapshot


@pytest.fixture(scope="module")
def killed(runs) -> Killed:
    """The in-process run SIGKILLed (with its vLLM children) once records are on disk."""
    out = runs.directory / "out"
    deadline = time.monotonic() + harness.LOAD_TIMEOUT_S
    while count_records(out) < KILL_AFTER:
        log = (runs.directory / "inproc.log").read_text(errors="replace")[-3000:]
        assert runs.engine.poll() is None, f"in-process run exited early:\n{log}"
        assert time.monotonic() < deadline, f"no records after {harness.LOAD_TIMEOUT_S}s:\n{log}"
        time.sleep(0.1)
    with urllib.request.urlopen(f"http://127.0.0.1:{runs.status_port}/status") as response:
        status = msgspec.json.decode(response.read(), type=Snapshot)
    runs.engine.kill()  # SIGKILL; the vLLM children go with the process group below
    harness.stop_process_group(runs.engine, grace_s=0)
    return Killed(read_samples(out), status)


@pytest.fixture(scope="module")
def resumed(runs, killed) -> tuple[list[Sample], Snapshot]:
    """The same recipe against the server, in the killed run's output directory."""
    runs.server.wait_ready()
    job = Job(http_recipe(runs, runs.directory / "out"))
    assert asyncio.run(job.run()) == 0
    return read_samples(runs.directory / "out"), job.metrics.snapshot()


@pytest.fixture(scope="module")
def reference(runs) -> dict[tuple[str, int], Sample]:
    """An uninterrupted run against the server."""
    runs.server.wait_ready()
    job = Job(http_recipe(runs, runs.directory / "reference"))
    assert asyncio.run(job.run()) == 0
    samples = read_samples(runs.directory / "reference")
    assert_exactly_once(samples, QUESTIONS, N)
    return {(s.question_id, s.sample_index): s for s in samples}


def test_inproc_run_killed_mid_job_keeps_its_records_and_a_resume_completes_exactly_once(
    killed, resumed
):
    kept = len(killed.samples)
    assert KILL_AFTER <= kept < QUESTIONS * N, "the kill must land mid-job"
    assert {s.teacher.backend for s in killed.samples} == {"vllm"}
    samples, metrics = resumed
    assert_exactly_once(samples, QUESTIONS, N)
    assert metrics.samples_skipped_resume == kept
    assert metrics.samples_written == QUESTIONS * N - kept
    assert Counter(s.teacher.backend for s in samples) == {
        "vllm": kept,
        "openai": QUESTIONS * N - kept,
    }


def test_inproc_status_counts_requests_and_tokens_like_the_http_backend(killed):
    status = killed.status
    assert status.state == "running"
    assert status.samples_written <= len(killed.samples)
    # One request per question (all n samples), as with native n over HTTP.
    assert status.requests >= status.samples_written / N > 0
    assert status.completion_tokens_per_s > 0


def test_inproc_and_server_write_the_same_sample_for_the_same_seed(killed, reference):
    fields = ("seed", "completion", "finish_reason", "truncated", "messages")
    for sample in killed.samples:
        expected = reference[(sample.question_id, sample.sample_index)]
        for field in fields:
            assert getattr(sample, field) == getattr(expected, field), (sample.key, field)
        assert sample.teacher.model == expected.teacher.model == str(harness.MODEL)
        assert sample.usage.prompt_tokens == expected.usage.prompt_tokens
        # Exact per sample in-process; HTTP usage is per request, so the engine records n-ths.
        if sample.truncated:
            assert sample.usage.completion_tokens == MAX_TOKENS
        else:
            assert 0 < sample.usage.completion_tokens < MAX_TOKENS


def test_n_samples_get_consecutive_seeds_and_different_texts(killed, reference):
    by_question: dict[str, list[Sample]] = defaultdict(list)
    for sample in reference.values():
        by_question[sample.question_id].append(sample)
    distinct = 0
    for samples in by_question.values():
        samples.sort(key=lambda s: s.sample_index)
        assert [s.seed - samples[0].seed for s in samples] == list(range(N))
        distinct += len({s.completion for s in samples}) == N
    # Random weights: different seeds give different texts, bar the odd stop at token 1.
    assert distinct >= 0.9 * QUESTIONS


def test_truncation_and_stop_strings_are_recorded(killed, reference):
    samples = [*killed.samples, *reference.values()]
    reasons = Counter((s.teacher.backend, s.finish_reason) for s in samples)
    assert {reason for _, reason in reasons} == {"length", "stop"}, reasons
    for sample in samples:
        assert sample.completion is not None and sample.failure is None
        assert sample.truncated == (sample.finish_reason == "length")
        if sample.finish_reason == "stop":
            assert STOP not in sample.completion
        assert sample.usage.prompt_tokens > 0


async def test_server_gives_the_same_text_per_seed_with_native_n_and_fan_out(runs):
    runs.server.wait_ready()
    messages = [Message("user", "Name a prime number.")]

    async def texts(seeds: list[int], native_n: bool) -> list[str]:
        spec = TeacherSpec(model=str(harness.MODEL), base_url=runs.server.url, native_n=native_n)
        backend = OpenAIBackend(spec)
        await backend.start()
        try:
            generation = await backend.generate(GenerationRequest(messages, seeds, MAX_TOKENS))
        finally:
            await backend.close()
        assert backend.metrics.requests == (1 if native_n else len(seeds))
        return [c.text for c in generation.completions]

    native = await texts([500, 501, 502, 503], native_n=True)
    assert await texts([500, 501, 502, 503], native_n=False) == native
    assert await texts([502], native_n=False) == native[2:3]
    assert len(set(native)) == 4
    assert not set(await texts([900, 901], native_n=True)) & set(native)


async def scrape_waiting(root: str, into: list[float]) -> None:
    """The server's queue, scrape after scrape, from its first queued request on."""
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{root}/metrics") as response:
                load = parse_vllm_metrics(await response.text())
            if into or load.waiting > 0:
                into.append(load.waiting)
            await asyncio.sleep(0.05)


async def test_metrics_steering_grows_in_flight_then_keeps_a_short_queue(runs):
    runs.server.wait_ready()
    model, url = str(harness.MODEL), runs.server.url
    # Baseline: a fixed 48 in flight against a 16-sequence batch queues on the server.
    fixed = OpenAIBackend(TeacherSpec(model=model, base_url=url, max_in_flight=48))
    await fixed.start()
    fixed_waiting: list[float] = []
    scraper = asyncio.ensure_future(scrape_waiting(runs.server.root, fixed_waiting))
    try:
        await drive(fixed, workers=48, seconds=300, until=lambda: len(fixed_waiting) >= 20)
    finally:
        scraper.cancel()
        await fixed.close()
    assert len(fixed_waiting) >= 20
    assert statistics.median(fixed_waiting) >= MAX_NUM_SEQS, fixed_waiting

    spec = TeacherSpec(model=model, base_url=url, max_in_flight=48, server_metrics="vllm")
    steered = ReplicaSet(spec)
    steering = steered.replicas[0].steering
    steering.interval_s = 0.2  # more decisions per second of test; the rule is the same
    controller = steering.controller

    def enough() -> bool:
        """20 decisions after the first queue on the server."""
        waited = [o.waiting > 0 for o in controller.history]
        return True in waited and len(waited) - waited.index(True) > 20

    await steered.start()
    try:
        await drive(steered, workers=48, seconds=300, until=enough)
    finally:
        await steered.close()
    assert enough(), f"{steering.scrape_errors} failed scrapes"
    history = list(controller.history)
    first_queue = next(i for i, o in enumerate(history) if o.waiting > 0)
    # Grew from its initial 8 while the server had room, and learned the server's batch ...
    assert history[first_queue].ceiling > 8
    assert max(o.running for o in history) == MAX_NUM_SEQS
    # ... then held the queue short instead of sending all 48.
    after = history[first_queue + 1 :]
    assert statistics.median(o.ceiling for o in after) < 48
    waiting = [o.waiting for o in after]
    assert statistics.median(waiting) < statistics.median(fixed_waiting) / 2, waiting


async def test_a_dead_replica_beside_real_vllm_is_taken_out_and_nothing_is_lost(runs):
    runs.server.wait_ready()
    dead = f"http://127.0.0.1:{harness.free_port()}/v1"
    spec = TeacherSpec(model=str(harness.MODEL), base_urls=[dead, runs.server.url])
    backend = ReplicaSet(spec)
    await backend.start()
    try:
        messages = [Message("user", "Hello")]
        requests = [GenerationRequest(messages, [s, s + 1], 8) for s in range(0, 24, 2)]
        generations = await asyncio.gather(*(backend.generate(r) for r in requests))
    finally:
        await backend.close()
    assert [len(g.completions) for g in generations] == [2] * 12
    assert [r.healthy for r in backend.replicas] == [False, True]
    assert backend.replicas[1].served == 12
