"""A teacher that refuses every request stops the job at once, before anything is written, with
one line; a run whose samples failed (all, or more than limits.max_failed_share) exits 1 with
the reason (issue 10: teacher failures are final and the exit code is 0)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from aiohttp import web

from engine.backends.openai_http import OpenAIBackend
from engine.backends.replicas import ReplicaSet
from engine.config import load_recipe
from engine.errors import TeacherUnavailable
from engine.job import Job
from engine.metrics import Metrics
from engine.specs import TeacherSpec
from tests.helpers import REPO, mock_process, read_samples, recipe_toml, serving, write_questions

#: generous: the point is "not 53 s of retries", not a speed figure
SECONDS = 20


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


async def run_engine(config: Path, env: dict[str, str] | None = None) -> tuple[int, str, float]:
    """``python -m engine run`` as a child, awaited so that servers in this loop keep answering;
    (exit code, stderr, seconds)."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine", "run", "--config", str(config), "--quiet",
        cwd=REPO, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, stderr.decode(), time.monotonic() - started


def config(tmp_path: Path, url: str, teacher: str = "max_attempts = 8", **sections: str) -> Path:
    """40 questions, 4 samples each; ``teacher`` adds keys to the teacher section."""
    questions = write_questions(tmp_path / "q.jsonl", 40)
    base = f'model = "mock"\nbase_url = "{url}"\nbackoff_base_s = 0.5\n'
    path = tmp_path / "t.toml"
    text = recipe_toml(url, questions, tmp_path / "out", teacher=base + teacher, **sections)
    path.write_text(text)
    return path


@contextlib.asynccontextmanager
async def openai_server(models: list[str] | None, serves: str):
    """A loopback server: ``/v1/models`` lists ``models`` (no such route when None); chat
    completions answer 404 "model does not exist" unless the model is ``serves``."""
    calls: Counter[str] = Counter()

    async def listing(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m} for m in models or []]})

    async def complete(request: web.Request) -> web.Response:
        calls["requests"] += 1
        body = msgspec.json.decode(await request.read())
        if body["model"] != serves:
            error = {"message": f"The model `{body['model']}` does not exist.", "code": 404}
            return web.json_response({"object": "error", **error}, status=404)
        n = body.get("n", 1)
        choices = [{"message": {"content": "\\boxed{1}"}, "finish_reason": "stop"}] * n
        return web.json_response({"choices": choices})

    app = web.Application()
    if models is not None:
        app.router.add_get("/v1/models", listing)
    app.router.add_post("/v1/chat/completions", complete)
    async with serving(app) as url:
        yield url, calls


def assert_one_line_and_nothing_written(stderr: str, tmp_path: Path, *parts: str) -> None:
    assert stderr.count("\n") == 1 and stderr.startswith("error: teacher: "), stderr
    assert all(part in stderr for part in parts), stderr
    assert not (tmp_path / "out").exists()  # not even the manifest


async def test_a_closed_port_stops_the_job_at_once(tmp_path):
    port = closed_port()
    code, stderr, seconds = await run_engine(config(tmp_path, f"http://127.0.0.1:{port}/v1"))
    assert code == 1 and seconds < SECONDS
    assert_one_line_and_nothing_written(stderr, tmp_path, f"127.0.0.1:{port}", "cannot connect")


async def test_a_refused_api_key_stops_the_job_at_once(tmp_path):
    """The mock wants its key on every route: the preflight's 401 stops the job before it
    writes anything, and the message does not echo either key."""
    with mock_process("--api-key", "sk-right") as url:  # the mock wants the real key
        path = config(tmp_path, url, 'api_key_env = "TM_ENGINE_KEY"')
        code, stderr, seconds = await run_engine(path, {"TM_ENGINE_KEY": "sk-wrong"})
    assert code == 1 and seconds < SECONDS
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), stderr
    assert "refused the API key: 401" in stderr and "invalid_api_key" in stderr
    assert "sk-wrong" not in stderr and "sk-right" not in stderr
    assert read_samples(tmp_path / "out") == []


@pytest.mark.parametrize("models", [["Qwen/QwQ-32B"], None], ids=["listed", "no-models-route"])
async def test_an_unknown_model_stops_the_job_at_once(tmp_path, models):
    async with openai_server(models, serves="Qwen/QwQ-32B") as (url, calls):
        code, stderr, seconds = await run_engine(config(tmp_path, url))  # asks for "mock"
    assert code == 1 and seconds < SECONDS
    assert_one_line_and_nothing_written(stderr, tmp_path, "404", "model `mock` does not exist")
    assert calls["requests"] == 1  # the preflight's one token, nothing more


async def test_servers_that_serve_the_model_pass_with_or_without_a_models_route():
    for models in (["mock"], ["another-name"], None):  # e.g. llama.cpp ignores the name
        async with openai_server(models, serves="mock") as (url, calls):
            backend = OpenAIBackend(TeacherSpec(model="mock", base_url=url), Metrics())
            assert await backend.preflight() is None
        assert calls["requests"] == (0 if models == ["mock"] else 1)  # one token when unlisted


async def test_replicas_are_refused_only_when_every_one_refuses(tmp_path):
    async with openai_server(["mock"], serves="mock") as (url, _):
        dead = f"http://127.0.0.1:{closed_port()}/v1"
        spec = TeacherSpec(model="mock", base_urls=[dead, url])
        assert await ReplicaSet(spec, Metrics()).preflight() is None
    spec = TeacherSpec(model="mock", base_urls=[dead, f"http://127.0.0.1:{closed_port()}/v1"])
    problem = await ReplicaSet(spec, Metrics()).preflight()
    assert problem is not None and problem.count("cannot connect") == 2


async def test_a_job_in_process_raises_before_it_opens_the_output(tmp_path):
    async with openai_server(["Qwen/QwQ-32B"], serves="Qwen/QwQ-32B") as (url, _):
        with pytest.raises(TeacherUnavailable, match=r"^teacher: .*model 'mock'"):
            await Job(load_recipe(config(tmp_path, url))).run()
    assert not (tmp_path / "out").exists()


async def test_a_run_whose_samples_all_failed_exits_1_with_the_reason(tmp_path):
    with mock_process("--error-rate", "1.0") as url:
        path = config(tmp_path, url, "max_attempts = 1")
        code, stderr, _ = await run_engine(path)
    assert code == 1
    assert stderr.splitlines()[-1] == (
        "error: the job failed: all 160 samples written this run failed (server_error 160)"
    )
    assert len(read_samples(tmp_path / "out")) == 160  # each a typed failure record, once


@pytest.mark.parametrize(("limit", "code"), [(0.1, 1), (0.6, 0)])
async def test_the_failure_share_threshold_is_honoured(tmp_path, mock_teacher, limit, code):
    # one error draw per request from the mock's seeded generator: the count is fixed
    async with mock_teacher(error_rate=0.3, seed=4) as mock:
        path = config(tmp_path, mock.url, "max_attempts = 1", limits=f"max_failed_share = {limit}")
        job = Job(load_recipe(path))
        assert await job.run() == code
    samples = read_samples(tmp_path / "out")
    failed = sum(s.failure is not None for s in samples)
    assert 0.1 < failed / 160 < 0.6
    if code:
        assert job.failure == (
            f"{failed} of 160 samples written this run failed (server_error {failed}): "
            f"{failed / 160:.1%}, more than limits.max_failed_share = {limit}"
        )
    else:
        assert job.failure is None
