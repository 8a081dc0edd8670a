"""Sample indices are the engine's own: a server's choices without ``index``, with shuffled,
repeated or out-of-range ones, each against a real loopback server (issue 10)."""

from __future__ import annotations

import contextlib
import random
from collections import Counter

import msgspec
import pytest
from aiohttp import web

from engine.backends.base import BackendError
from engine.backends.openai_http import OpenAIBackend
from engine.job import Job
from engine.metrics import Metrics
from tests.engine.backends.test_openai_backend import request, spec
from tests.helpers import read_samples, serving, write_questions


def shaped(choices: list[dict], shape: str) -> list[dict]:
    """The server's choices (choice i answers seed + i) with their indices as ``shape`` says."""
    n = len(choices)
    if shape == "missing":
        for choice in choices:
            del choice["index"]
    elif shape == "shuffled":
        random.Random(n).shuffle(choices)
    elif shape == "repeated" and n > 1:
        choices[1]["index"] = 0
    elif shape == "out_of_range":
        choices[-1]["index"] = n
    elif shape == "some_missing" and n > 1:
        del choices[1]["index"]
    return choices


@contextlib.asynccontextmanager
async def server(shape: str):
    """An OpenAI-compatible chat server on loopback whose replies name their seed."""
    calls = Counter()

    async def complete(http: web.Request) -> web.Response:
        body = msgspec.json.decode(await http.read())
        calls["requests"] += 1
        seed, n = body["seed"], body.get("n", 1)
        choices = [
            {"index": i, "message": {"content": f"seed {seed + i}"}, "finish_reason": "stop"}
            for i in range(n)
        ]
        payload = {"choices": shaped(choices, shape), "usage": {"completion_tokens": 3 * n}}
        return web.json_response(payload)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", complete)
    async with serving(app) as url:
        yield url, calls


@pytest.mark.parametrize("shape", ["as_given", "missing", "shuffled"])
async def test_choices_map_to_the_samples_they_answer(shape):
    async with server(shape) as (url, _):
        backend = OpenAIBackend(spec(url), Metrics())
        await backend.start()
        try:
            generation = await backend.generate(request(n=6, seed=100))
        finally:
            await backend.close()
    assert [(c.index, c.text) for c in generation.completions] == [
        (i, f"seed {100 + i}") for i in range(6)
    ]


@pytest.mark.parametrize("shape", ["repeated", "out_of_range", "some_missing"])
async def test_indices_that_cannot_be_mapped_are_a_bad_response_never_collapsed(shape):
    async with server(shape) as (url, calls):
        backend = OpenAIBackend(spec(url, max_attempts=2), Metrics())
        await backend.start()
        try:
            with pytest.raises(BackendError) as error:
                await backend.generate(request(n=4))
        finally:
            await backend.close()
    assert error.value.failure.kind == "bad_response"
    assert "are not 0..3 once each" in error.value.failure.detail
    assert calls["requests"] == 2 and error.value.attempts == 2  # retried like a garbage body


@pytest.mark.parametrize("shape", ["missing", "shuffled"])
async def test_a_job_against_a_server_without_indices_writes_every_sample(
    tmp_path, make_recipe, shape
):
    questions = write_questions(tmp_path / "q.jsonl", 10)
    async with server(shape) as (url, calls):
        assert await Job(make_recipe(url, questions)).run() == 0
    samples = read_samples(tmp_path / "out")
    # native n, one request per question, and the preflight's request for one token (this
    # server has no /models)
    assert calls["requests"] == 11
    assert Counter((s.question_id, s.sample_index) for s in samples) == Counter(
        {(f"s:q{i}", j): 1 for i in range(10) for j in range(4)}
    )
    assert all(s.completion == f"seed {s.seed}" for s in samples)  # each answer on its index
