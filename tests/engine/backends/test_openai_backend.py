"""OpenAI-compatible backend against the real mock teacher over loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest

from engine.backends.base import BackendError, GenerationRequest
from engine.backends.openai_http import OpenAIBackend
from engine.errors import TeacherUnavailable
from engine.metrics import Metrics
from engine.records import Message
from engine.specs import TeacherSpec


def request(n: int = 4, seed: int = 100, max_tokens: int = 512) -> GenerationRequest:
    messages = [Message("user", "Compute 1 + 2.")]
    return GenerationRequest(messages, [seed + i for i in range(n)], max_tokens)


def spec(url: str, **overrides: object) -> TeacherSpec:
    settings = dict(
        model="mock", base_url=url, backoff_base_s=0.01, backoff_max_s=0.1, request_timeout_s=5
    )
    settings.update(overrides)
    return TeacherSpec(**settings)  # type: ignore[arg-type]


async def generate(url: str, req: GenerationRequest, **overrides: object):
    backend = OpenAIBackend(spec(url, **overrides), Metrics())
    await backend.start()
    try:
        return await backend.generate(req), backend
    finally:
        await backend.close()


async def test_native_n_is_one_request_with_distinct_seeded_samples(mock_teacher):
    async with mock_teacher() as mock:
        generation, backend = await generate(mock.url, request(n=16))
        again, _ = await generate(mock.url, request(n=16))
    assert mock.stats["requests"] == 2
    texts = [c.text for c in generation.completions]
    assert len(texts) == 16 and len(set(texts)) > 1
    assert texts == [c.text for c in again.completions]  # same seeds, same texts
    assert [c.index for c in generation.completions] == list(range(16))
    assert backend.metrics.completion_tokens > 0


async def test_fan_out_when_server_rejects_n(mock_teacher):
    async with mock_teacher(reject_n=True) as mock:
        generation, backend = await generate(mock.url, request(n=4))
        native, _ = await generate(mock.url, request(n=1, seed=102))
    assert mock.stats["rejected_n"] == 1
    assert not backend.native_n
    assert len(generation.completions) == 4
    # sample 2 of the fan-out used seed 102: the same text as a single request with seed 102
    assert generation.completions[2].text == native.completions[0].text


async def test_429_storm_honours_retry_after_and_recovers(mock_teacher):
    async with mock_teacher(rpm=600) as mock:  # 10 requests/s: a burst of 30 must be spread
        backend = OpenAIBackend(spec(mock.url, max_attempts=50), Metrics())
        await backend.start()
        started = time.monotonic()
        try:
            results = await asyncio.gather(
                *(backend.generate(request(n=1, seed=s)) for s in range(30))
            )
        finally:
            await backend.close()
    assert all(len(r.completions) == 1 for r in results)
    assert mock.stats["ok"] == 30
    assert mock.stats["rate_limited"] >= 10
    assert backend.metrics.rate_limited == mock.stats["rate_limited"]
    assert backend.limiter.concurrency.limit < backend.limiter.concurrency.maximum
    assert time.monotonic() - started >= 1.8  # 20 requests beyond the burst at 10/s


async def test_rate_limits_beyond_patience_end_as_typed_failure(mock_teacher):
    async with mock_teacher(rpm=1) as mock:  # one request, then Retry-After: 60
        backend = OpenAIBackend(spec(mock.url, rate_limit_patience_s=2), Metrics())
        await backend.start()
        try:
            first = await backend.generate(request(n=1))
            started = time.monotonic()
            with pytest.raises(BackendError) as error:
                await backend.generate(request(n=1))
        finally:
            await backend.close()
    assert len(first.completions) == 1
    assert error.value.failure.kind == "rate_limited" and error.value.failure.status == 429
    assert time.monotonic() - started < 2  # gave up at once: the wait asked exceeds patience


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("error_rate", "server_error"),
        ("garbage_rate", "bad_response"),
        ("disconnect_rate", "connection"),
    ],
)
async def test_persistent_faults_end_in_typed_failure(mock_teacher, fault, kind):
    async with mock_teacher(**{fault: 1.0}) as mock:
        with pytest.raises(BackendError) as error:
            await generate(mock.url, request(n=2), max_attempts=3)
    assert error.value.failure.kind == kind
    assert error.value.attempts == 3


@pytest.mark.parametrize("fault", ["error_rate", "garbage_rate", "disconnect_rate"])
async def test_transient_faults_are_retried(mock_teacher, fault):
    async with mock_teacher(**{fault: 0.5}, seed=5) as mock:
        backend = OpenAIBackend(spec(mock.url, max_attempts=30), Metrics())
        await backend.start()
        try:
            results = [await backend.generate(request(n=2, seed=s)) for s in range(0, 40, 2)]
        finally:
            await backend.close()
    assert all(len(r.completions) == 2 for r in results)
    assert backend.metrics.retries > 0


async def test_timeout_is_retried_then_typed(mock_teacher):
    async with mock_teacher(latency_ms=1500) as mock:
        with pytest.raises(BackendError) as error:
            await generate(mock.url, request(n=1), request_timeout_s=0.2, max_attempts=2)
    assert error.value.failure.kind == "timeout"


async def test_client_error_is_not_retried(mock_teacher):
    async with mock_teacher() as mock:
        backend = OpenAIBackend(spec(mock.url), Metrics())
        backend.path = backend.path.replace("/chat/completions", "/models")  # GET only: 405
        await backend.start()
        try:
            with pytest.raises(BackendError) as error:
                await backend.generate(request(n=1))
        finally:
            await backend.close()
    assert error.value.failure.kind == "client_error"
    assert error.value.failure.status == 405
    assert error.value.attempts == 1


async def test_refusals_of_the_key_or_the_model_stop_the_job(mock_teacher):
    """401, 403 and 404 would answer every request alike: raised, not recorded as failures."""
    async with mock_teacher() as mock:
        backend = OpenAIBackend(spec(mock.url), Metrics())
        backend.path = backend.path.replace("/chat/completions", "/nope")
        await backend.start()
        try:
            with pytest.raises(TeacherUnavailable, match=r"v1 refused a request: 404 404"):
                await backend.generate(request(n=1))
        finally:
            await backend.close()
    assert mock.stats.get("requests", 0) == 0  # the route does not exist: nothing generated


async def test_truncation_is_reported(mock_teacher):
    async with mock_teacher(completion_tokens=400) as mock:
        generation, _ = await generate(mock.url, request(n=2, max_tokens=20))
    assert {c.finish_reason for c in generation.completions} == {"length"}


async def test_text_completions_api(mock_teacher):
    async with mock_teacher() as mock:
        generation, backend = await generate(mock.url, request(n=2), api="completions")
    assert backend.path == "/v1/completions"
    assert all(c.text for c in generation.completions)


async def test_api_key_comes_from_the_environment_and_is_never_logged(
    mock_teacher, caplog, monkeypatch
):
    secret = "sk-test-" + os.urandom(8).hex()
    monkeypatch.setenv("TM_TEST_KEY", secret)
    monkeypatch.setenv("TM_WRONG_KEY", "sk-wrong")
    caplog.set_level(logging.DEBUG)
    async with mock_teacher(api_key=secret) as mock:
        generation, _ = await generate(mock.url, request(n=1), api_key_env="TM_TEST_KEY")
        with pytest.raises(TeacherUnavailable, match="refused a request: 401") as error:
            await generate(mock.url, request(n=1), api_key_env="TM_WRONG_KEY")
    assert len(generation.completions) == 1
    assert mock.stats["unauthorized"] == 1  # asked once, not retried
    assert secret not in caplog.text
    assert secret not in str(error.value) and "sk-wrong" not in str(error.value)
