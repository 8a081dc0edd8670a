"""Mock teacher: a real OpenAI-compatible aiohttp server for tests, demos and benchmarks.

It injects latency, server-side RPM/TPM limits (429 + Retry-After), 5xx errors, garbage bodies,
disconnects and truncation, and in answer-key mode it knows the gold answers and ends its
reasoning-like reply in ``\\boxed{gold}`` at a configured rate, so a run's pass rate is known.
Prompts that ask for a difficulty rating (engine.scoring's rubric) get ``mock_rating(problem)``.
Replies are deterministic in (prompt, seed): with ``n`` > 1, choice ``i`` uses seed ``seed + i``
as vLLM does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
from collections import Counter
from pathlib import Path

import msgspec
from aiohttp import web

from engine.scoring.rubric import PROBLEM_CLOSE, PROBLEM_OPEN, RATING_LINE


class MockOptions(msgspec.Struct, kw_only=True):
    """Behaviour of the mock; rates are probabilities per request."""

    latency_ms: float = 0.0
    latency_dist: str = "fixed"  # fixed | exponential | uniform
    tokens_per_s: float = 0.0  # 0 = infinitely fast decoding
    completion_tokens: int = 200  # length of a reply, in tokens (~4 chars each)
    rpm: int = 0
    tpm: int = 0
    error_rate: float = 0.0
    garbage_rate: float = 0.0
    disconnect_rate: float = 0.0
    truncate_rate: float = 0.0
    reject_n: bool = False
    correct_rate: float = 0.7
    answer_key: str | None = None  # JSONL/JSON file with problem + answer fields
    api_key: str | None = None  # when set, requests must carry "Authorization: Bearer <key>"
    seed: int = 0


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


def load_answer_key(path: str) -> dict[str, str]:
    """Map each problem's first non-empty line to its gold answer."""
    text = Path(path).read_text()
    if text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    key = {}
    for row in rows:
        answer = row.get("answer")
        if isinstance(answer, list):
            answer = answer[0] if answer else None
        if row.get("problem") and answer is not None:
            key[_first_line(row["problem"])] = str(answer)
    return key


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def wrong_answer(gold: str, rng: random.Random) -> str:
    """A plausible answer that is not equal to gold."""
    try:
        value = float(gold.replace(",", ""))
    except ValueError:
        return f"{gold} + {rng.randint(1, 9)}"
    if value.is_integer():
        return str(int(value) + rng.choice((-3, -2, -1, 1, 2, 3, 7)))
    return f"{value * 1.5 + 1:g}"


_FILLER = (
    "Let me restate the problem and identify what is being asked.",
    "I will set up the relevant quantities and relations first.",
    "Checking a small case helps confirm the pattern.",
    "Now simplify the expression step by step.",
    "Wait, let me double-check that computation.",
    "That agrees with the earlier estimate, so the approach is consistent.",
)


class MockTeacher:
    """The request handler and its counters (``GET /mock/stats`` returns them)."""

    def __init__(self, options: MockOptions):
        self.options = options
        self.answers = load_answer_key(options.answer_key) if options.answer_key else {}
        self.stats: Counter[str] = Counter()
        self.rpm = _Bucket(options.rpm) if options.rpm else None
        self.tpm = _Bucket(options.tpm) if options.tpm else None
        self.rng = random.Random(options.seed)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/chat/completions", self.complete)
        app.router.add_post("/v1/completions", self.complete)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/mock/stats", self.get_stats)
        return app

    async def health(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "mock", "object": "model"}]})

    async def get_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.stats))

    async def complete(self, request: web.Request) -> web.StreamResponse:
        options, stats, rng = self.options, self.stats, self.rng
        stats["requests"] += 1
        if options.api_key and request.headers.get("Authorization") != f"Bearer {options.api_key}":
            stats["unauthorized"] += 1
            return web.json_response({"error": {"message": "invalid API key"}}, status=401)
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            stats["bad_request"] += 1
            return web.json_response({"error": {"message": "invalid JSON"}}, status=400)
        n = int(body.get("n") or 1)
        max_tokens = int(body.get("max_tokens") or 16)
        if options.reject_n and n > 1:
            stats["rejected_n"] += 1
            message = "n > 1 is not supported by this server"
            return web.json_response({"error": {"message": message}}, status=400)
        prompt = self._prompt(body)
        if wait := self._rate_limited(len(prompt) // 4 + n * min(max_tokens, 200)):
            stats["rate_limited"] += 1
            headers = {"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(int(wait * 1000))}
            body = {"error": {"message": "rate limited"}}
            return web.json_response(body, status=429, headers=headers)
        if options.disconnect_rate and rng.random() < options.disconnect_rate:
            stats["disconnects"] += 1
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if options.error_rate and rng.random() < options.error_rate:
            stats["errors"] += 1
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        seed = body.get("seed")
        texts = [self._reply(prompt, None if seed is None else seed + i) for i in range(n)]
        choices, completion_tokens = [], 0
        for i, text in enumerate(texts):
            tokens = max(1, len(text) // 4)
            finish = "stop"
            if tokens > max_tokens or (
                options.truncate_rate and rng.random() < options.truncate_rate
            ):
                tokens = min(tokens, max_tokens)
                text, finish = text[: tokens * 4], "length"
            completion_tokens += tokens
            if "messages" in body:
                choice = {"index": i, "message": {"role": "assistant", "content": text}}
            else:
                choice = {"index": i, "text": text}
            choice["finish_reason"] = finish
            choices.append(choice)
        await self._delay(completion_tokens / n, rng)
        if options.garbage_rate and rng.random() < options.garbage_rate:
            stats["garbage"] += 1
            return web.Response(body=b'{"choices": [{"ind', content_type="application/json")
        stats["ok"] += 1
        usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": completion_tokens}
        payload = {"id": "mock", "object": "chat.completion", "model": body.get("model", "mock")}
        payload |= {"choices": choices, "usage": usage}
        return web.Response(body=msgspec.json.encode(payload), content_type="application/json")

    @staticmethod
    def _prompt(body: dict) -> str:
        if "messages" in body:
            return "\n".join(str(m.get("content", "")) for m in body["messages"])
        return str(body.get("prompt", ""))

    def _rate_limited(self, tokens: int) -> float:
        waits = [
            bucket.take(amount) for bucket, amount in ((self.rpm, 1), (self.tpm, tokens)) if bucket
        ]
        return max(waits, default=0.0)

    async def _delay(self, tokens: float, rng: random.Random) -> None:
        mean = self.options.latency_ms / 1000
        if self.options.latency_dist == "exponential":
            delay = rng.expovariate(1 / mean) if mean else 0.0
        elif self.options.latency_dist == "uniform":
            delay = rng.uniform(0, 2 * mean)
        else:
            delay = mean
        if self.options.tokens_per_s:
            delay += tokens / self.options.tokens_per_s
        if delay > 0:
            await asyncio.sleep(delay)

    def _reply(self, prompt: str, seed: int | None) -> str:
        """Reasoning-like text ending in a boxed answer; deterministic in (prompt, seed)."""
        if RATING_LINE in prompt:
            return rating_reply(prompt)
        material = f"{seed}:{prompt}" if seed is not None else f"{self.rng.random()}:{prompt}"
        rng = random.Random(hashlib.blake2b(material.encode(), digest_size=8).digest())
        gold = self._gold(prompt)
        if gold is None:
            answer = str(rng.randint(0, 999))
        elif rng.random() < self.options.correct_rate:
            answer = gold
        else:
            answer = wrong_answer(gold, rng)
        steps = max(1, int(self.options.completion_tokens / 12 * rng.uniform(0.5, 1.5)))
        thoughts = " ".join(rng.choices(_FILLER, k=steps))
        return f"<think>\n{thoughts}\n</think>\n\nThe final answer is $\\boxed{{{answer}}}$."

    def _gold(self, prompt: str) -> str | None:
        if not self.answers:
            return None
        for line in prompt.splitlines():
            if (gold := self.answers.get(line.strip())) is not None:
                return gold
        return None


# Difficulty rubrics (engine.scoring): a known rating per problem, said in varied ways after a
# distractor sentence full of other numbers, so tests exercise the reply parser end to end.
_RATING_PHRASES = ("Difficulty: {}", "I'd rate this a {}/10.", "**{}**", "So: $\\boxed{{{}}}$")


def _problem_hash(problem: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(problem.strip().encode(), digest_size=8).digest(), "little"
    )


def mock_rating(problem: str) -> int:
    """The 1-10 rating the mock gives ``problem`` under a difficulty rubric."""
    return 1 + _problem_hash(problem) % 10


def rating_reply(prompt: str) -> str:
    """A rubric reply: the rating of the text between the problem tags (or the whole prompt)."""
    start, end = prompt.find(PROBLEM_OPEN), prompt.rfind(PROBLEM_CLOSE)
    problem = prompt[start + len(PROBLEM_OPEN) : end] if 0 <= start < end else prompt
    phrase = _RATING_PHRASES[_problem_hash(problem) // 10 % len(_RATING_PHRASES)]
    reasons = "Up to 10^5 values and 2 query types: level 3 to 5 techniques."
    return f"{reasons}\n\n{phrase.format(mock_rating(problem))}"


async def serve(teacher: MockTeacher, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
    """Start the mock on (host, port); port 0 picks a free one (see ``bound_port``)."""
    runner = web.AppRunner(teacher.app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    site = next(iter(runner.sites))
    return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
