"""Fault injection at the wire: streams cut or garbled halfway, token-per-minute limits with
Retry-After, and decoding time from tokens_per_s (a lower bound only: sleeps are never short)."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest

BODY = {"model": "m", "messages": [{"role": "user", "content": "Say something long."}]}


async def events(session: aiohttp.ClientSession, url: str, body: dict) -> list[bytes]:
    async with session.post(f"{url}/chat/completions", json=body) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        return [line async for line in response.content if line.strip()]


async def test_a_stream_disconnect_strikes_mid_text(mock_teacher) -> None:
    async with mock_teacher(disconnect_rate=1.0, completion_tokens=400) as mock:
        async with aiohttp.ClientSession() as session:
            received: list[bytes] = []
            with pytest.raises(aiohttp.ClientPayloadError):
                async with session.post(
                    f"{mock.url}/chat/completions", json=BODY | {"stream": True, "seed": 1}
                ) as response:
                    async for line in response.content:
                        received.append(line)
        assert mock.stats["disconnects"] == 1 and "replies_unkeyed" not in mock.stats
    assert any(b'"content"' in line for line in received)  # text arrived before the cut
    assert not any(b"[DONE]" in line for line in received)


async def test_a_garbled_stream_ends_without_done_and_a_whole_one_with_it(mock_teacher) -> None:
    async with mock_teacher(garbage_rate=1.0) as mock:
        async with aiohttp.ClientSession() as session:
            lines = await events(session, mock.url, BODY | {"stream": True})
        assert lines[-1] == b'data: {"choices": [{"ind\n' and mock.stats["garbage"] == 1
    async with mock_teacher() as mock:
        async with aiohttp.ClientSession() as session:
            lines = await events(session, mock.url, BODY | {"stream": True})
        assert lines[-1] == b"data: [DONE]\n" and mock.stats["replies_unkeyed"] == 1


async def test_tokens_per_minute_limit_answers_429_with_retry_after(mock_teacher) -> None:
    async with mock_teacher(tpm=600, completion_tokens=100) as mock:
        async with aiohttp.ClientSession() as session:
            url = f"{mock.url}/chat/completions"
            async with session.post(url, json=BODY | {"seed": 1}) as first:
                assert first.status == 200
            async with session.post(url, json=BODY | {"seed": 2}) as second:
                assert second.status == 429
                assert int(second.headers["Retry-After"]) >= 1
                assert (await second.json())["error"]["type"] == "rate_limit_error"
        assert mock.stats["rate_limited"] == 1


async def test_decoding_takes_at_least_tokens_over_tokens_per_s(mock_teacher) -> None:
    mock = mock_teacher(tokens_per_s=1000, completion_tokens=200, latency_ms=100)
    async with mock as running, aiohttp.ClientSession() as session:
        url = f"{running.url}/chat/completions"
        for stream in (False, True):
            start = time.monotonic()
            async with session.post(url, json=BODY | {"seed": 3, "stream": stream}) as r:
                text = await r.text()
            elapsed = time.monotonic() - start
            if not stream:
                tokens = json.loads(text)["usage"]["completion_tokens"]
            assert tokens > 100 and elapsed >= 0.1 + tokens / 1000 - 0.01, (stream, elapsed)
