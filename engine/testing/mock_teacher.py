"""Mock teacher: a real OpenAI-compatible aiohttp server for tests, demos and benchmarks.

It speaks the OpenAI wire format exactly (engine.testing.wire: chat and text completions, n,
streaming with usage, models, typed errors), answers from an answer key at a known rate
(engine.testing.replies), and injects faults: latency, decoding speed, server-side RPM/TPM limits
(429 + Retry-After), 5xx errors, garbage bodies, disconnects (mid-stream when streaming),
truncation, refusal of n > 1 and a wrong API key. ``GET /mock/stats`` counts what it did, including
the outcome of every reply it delivered (``replies_correct``, ``replies_wrong``...);
``GET /mock/options`` shows the options it runs with.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import os
import random
import time
from collections import Counter
from typing import Literal

import msgspec
from aiohttp import web

from engine.testing.answer_key import AnswerKey, read_key
from engine.testing.options import MockOptions
from engine.testing.rating import mock_rating
from engine.testing.replies import Composer, Reply
from engine.testing.tokens import count_tokens, cut_tokens
from engine.testing.wire import Api, Choice, CompletionRequest, Envelope, error, model_card

__all__ = ["MockTeacher", "bound_port", "mock_rating", "serve"]

_decode_request = msgspec.json.Decoder(CompletionRequest).decode
_encode = msgspec.json.Encoder().encode
_PIECE = 64  # characters per streamed event
_GARBAGE = b'{"choices": [{"ind'


_Fault = Literal["disconnect", "garbage"] | None


class _Answer(msgspec.Struct, frozen=True):
    """A response about to be sent: its envelope, choices, and the replies they came from."""

    envelope: Envelope
    choices: list[Choice]
    replies: list[Reply]
    prompt_tokens: int


class _Bucket:
    """Server-side limit: bursts of at most one second's worth."""

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60
        self.capacity = self.level = max(1.0, self.rate)
        self.stamp = time.monotonic()

    def take(self, amount: float) -> float:
        """0 when taken, else seconds until it could be."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= min(amount, self.capacity):
            self.level -= amount
            return 0.0
        return (min(amount, self.capacity) - self.level) / self.rate


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=_encode(body), status=status, headers=headers, content_type="application/json"
    )


class MockTeacher:
    """The request handlers and their counters. ``key`` overrides ``options.answer_key``."""

    def __init__(self, options: MockOptions, key: AnswerKey | None = None):
        if key is None:
            answer_key = options.answer_key
            key = AnswerKey(read_key(answer_key) if isinstance(answer_key, str) else ())
        self.options = options
        self.composer = Composer(options, key)
        self.stats: Counter[str] = Counter()
        self.rpm = _Bucket(options.rpm) if options.rpm else None
        self.tpm = _Bucket(options.tpm) if options.tpm else None
        self.rng = random.Random(options.seed)
        self.created = int(time.time())
        self._ids = itertools.count()
        self._prefix = os.urandom(4).hex()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        chat = functools.partial(self.complete, api="chat")
        text = functools.partial(self.complete, api="text")
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/completions", text)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/v1/models/{model}", self.model)
        app.router.add_get("/health", self.health)
        app.router.add_get("/mock/stats", self.get_stats)
        app.router.add_get("/mock/options", self.get_options)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        return _json({"object": "list", "data": [model_card("mock", self.created)]})

    async def model(self, request: web.Request) -> web.Response:
        if denied := self._denied(request):
            return denied
        return _json(model_card(request.match_info["model"], self.created))

    async def get_stats(self, _request: web.Request) -> web.Response:
        return _json(dict(self.stats))

    async def get_options(self, _request: web.Request) -> web.Response:
        """The options the mock runs with (the API key masked)."""
        options = self.options
        if options.api_key:
            options = msgspec.structs.replace(options, api_key="***")
        return _json(options)

    def _denied(self, request: web.Request) -> web.Response | None:
        key = self.options.api_key
        if key and request.headers.get("Authorization") != f"Bearer {key}":
            self.stats["unauthorized"] += 1
            body = error("Incorrect API key provided.", "authentication_error", "invalid_api_key")
            return _json(body, 401)
        return None

    async def complete(self, request: web.Request, api: Api) -> web.StreamResponse:
        options, stats, rng = self.options, self.stats, self.rng
        stats["requests"] += 1
        if denied := self._denied(request):
            return denied
        try:
            body = _decode_request(await request.read())
            prompt = body.prompt_text(api)
        except (msgspec.DecodeError, ValueError) as problem:
            stats["bad_request"] += 1
            return _json(error(str(problem), "invalid_request_error"), 400)
        n = body.n
        if options.reject_n and n > 1:
            stats["rejected_n"] += 1
            message = "n > 1 is not supported by this server"
            return _json(error(message, "invalid_request_error", "unsupported_n"), 400)
        seeds = [rng.random() if body.seed is None else body.seed + i for i in range(n)]
        replies = self.composer.replies(prompt, seeds)
        limit = body.token_limit(api)
        prompt_tokens = count_tokens(prompt)
        spend = sum(r.tokens if limit is None else min(r.tokens, limit) for r in replies)
        if wait := self._rate_limited(prompt_tokens + spend):
            stats["rate_limited"] += 1
            headers = {"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(int(wait * 1000))}
            body_ = error("Rate limit reached; retry later.", "rate_limit_error", "rate_limited")
            return _json(body_, 429, headers)
        fault: _Fault = None
        if options.disconnect_rate and rng.random() < options.disconnect_rate:
            fault = "disconnect"
        if fault and not body.stream:
            stats["disconnects"] += 1
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if options.error_rate and rng.random() < options.error_rate:
            stats["errors"] += 1
            return _json(error("injected failure", "server_error"), 500)
        choices = [self._choice(reply, limit) for reply in replies]
        if options.garbage_rate and rng.random() < options.garbage_rate:
            fault = fault or "garbage"
        envelope = Envelope(api, self._id(api), int(time.time()), body.model)
        if body.stream:
            usage = body.stream_options is not None and body.stream_options.include_usage
            answer = _Answer(envelope, choices, replies, prompt_tokens)
            return await self._stream(request, answer, usage, fault)
        await self._delay(sum(c.tokens for c in choices) / n)
        if fault == "garbage":
            stats["garbage"] += 1
            return web.Response(body=_GARBAGE, content_type="application/json")
        self._delivered(replies)
        return _json(envelope.completion(choices, prompt_tokens))

    def _choice(self, reply: Reply, limit: int | None) -> Choice:
        """The reply as sent: cut at the token limit, or short at ``truncate_rate``."""
        options = self.options
        cut = options.truncate_rate and self.rng.random() < options.truncate_rate
        if limit is not None and reply.tokens > limit:
            return Choice(cut_tokens(reply.text, limit), "length", limit)
        if cut:
            keep = max(1, reply.tokens // 2)
            return Choice(cut_tokens(reply.text, keep), "length", keep)
        return Choice(reply.text, "stop", reply.tokens)

    def _delivered(self, replies: list[Reply]) -> None:
        self.stats["ok"] += 1
        for reply in replies:
            self.stats[f"replies_{reply.outcome}"] += 1

    async def _stream(
        self, request: web.Request, answer: _Answer, include_usage: bool, fault: _Fault
    ) -> web.StreamResponse:
        """Server-sent events: each choice's role, its text in pieces (round robin across
        choices, paced by tokens_per_s), its finish reason, then the usage, then [DONE].
        A disconnect or garbage fault strikes halfway through the text."""
        await self._delay(0)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        envelope, choices = answer.envelope, answer.choices
        extra = {"usage": None} if include_usage else {}

        async def send(event: object) -> None:
            await response.write(b"data: " + _encode(event) + b"\n\n")

        pieces = [[c.text[i : i + _PIECE] for i in range(0, len(c.text), _PIECE)] for c in choices]
        rounds = max(len(p) for p in pieces)
        per_round = self._decode_s(max(c.tokens for c in choices)) / max(rounds, 1)
        if envelope.api == "chat":
            for index in range(len(choices)):
                await send(envelope.chunk(index, opening=True) | extra)
        for step in range(rounds // 2 if fault else rounds):
            for index, parts in enumerate(pieces):
                if step < len(parts):
                    await send(envelope.chunk(index, parts[step]) | extra)
            if per_round:
                await asyncio.sleep(per_round)
        if fault == "disconnect":
            self.stats["disconnects"] += 1
            assert request.transport is not None
            request.transport.abort()
            return response
        if fault == "garbage":
            self.stats["garbage"] += 1
            await response.write(b"data: " + _GARBAGE + b"\n\n")
        else:
            for index, choice in enumerate(choices):
                await send(envelope.chunk(index, finish_reason=choice.finish_reason) | extra)
            if include_usage:
                tokens = sum(c.tokens for c in choices)
                await send(envelope.usage_chunk(answer.prompt_tokens, tokens))
            await response.write(b"data: [DONE]\n\n")
            self._delivered(answer.replies)
        await response.write_eof()
        return response

    def _id(self, api: Api) -> str:
        prefix = "chatcmpl" if api == "chat" else "cmpl"
        return f"{prefix}-{self._prefix}{next(self._ids):x}"

    def _rate_limited(self, tokens: int) -> float:
        waits = [
            bucket.take(amount) for bucket, amount in ((self.rpm, 1), (self.tpm, tokens)) if bucket
        ]
        return max(waits, default=0.0)

    def _decode_s(self, tokens: float) -> float:
        return tokens / self.options.tokens_per_s if self.options.tokens_per_s else 0.0

    async def _delay(self, tokens: float) -> None:
        """The latency draw, plus the time to decode ``tokens`` at tokens_per_s."""
        mean = self.options.latency_ms / 1000
        if self.options.latency_dist == "exponential":
            delay = self.rng.expovariate(1 / mean) if mean else 0.0
        elif self.options.latency_dist == "uniform":
            delay = self.rng.uniform(0, 2 * mean)
        else:
            delay = mean
        delay += self._decode_s(tokens)
        if delay > 0:
            await asyncio.sleep(delay)


async def serve(teacher: MockTeacher, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
    """Start the mock on (host, port); port 0 picks a free one (see ``bound_port``)."""
    runner = web.AppRunner(teacher.app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    site = next(iter(runner.sites))
    return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
