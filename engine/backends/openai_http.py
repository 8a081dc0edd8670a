"""OpenAI-compatible HTTP teacher (vLLM, SGLang, OpenAI, ...) over one keep-alive HTTP client."""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from urllib.parse import urlsplit

import msgspec

from engine.backends.base import BackendError, Completion, Generation, GenerationRequest
from engine.backends.http1 import HTTPClient, HTTPError, RequestTimeout, Response
from engine.backends.limits import AIMDConcurrency, RequestLimiter, retry_after
from engine.errors import TeacherUnavailable
from engine.metrics import Metrics
from engine.records import Failure, Message
from engine.specs import TeacherSpec
from engine.tokenizer import BYTES_PER_TOKEN, TokenCounter, token_counter


class _Message(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None


class _Choice(msgspec.Struct):
    index: int | None = None
    message: _Message | None = None
    text: str | None = None
    finish_reason: str | None = None
    token_ids: list[int] | None = None  # vLLM with `return_token_ids`: this choice's own tokens


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Response(msgspec.Struct):
    choices: list[_Choice]
    usage: _Usage | None = None


class _Model(msgspec.Struct):
    id: str


class _Models(msgspec.Struct):
    data: list[_Model]


_decode_response = msgspec.json.Decoder(_Response).decode
_decode_models = msgspec.json.Decoder(_Models).decode
_encode = msgspec.json.Encoder().encode
REFUSALS = (401, 403, 404)  # the key or the model refused: the same for every request
PREFLIGHT_S = 10.0  # budget of each preflight request (a server that is slow is not refusing)


class _Retry(Exception):
    """A retryable failure of one attempt."""

    def __init__(self, failure: Failure, wait: float | None = None, overloaded: bool = False):
        super().__init__(failure.detail)
        self.failure = failure
        self.wait = wait
        self.overloaded = overloaded


class _RejectedN(Exception):
    """The server refused n > 1."""


def _in_sample_order(choices: list[_Choice], n: int) -> list[_Choice]:
    """The choices in sample order: by ``index`` when they carry 0..n-1 once each, by position
    when none carries one (some servers omit it); any other indices are a bad response, never
    a guess that could put two samples on one index."""
    indices = [choice.index for choice in choices]
    if all(index is None for index in indices):
        return choices
    if None not in indices and sorted(indices) == list(range(n)):  # type: ignore[type-var]
        return sorted(choices, key=lambda choice: choice.index)  # type: ignore[arg-type, return-value]
    shown = ", ".join("-" if i is None else str(i) for i in indices[:16])
    raise _Retry(Failure("bad_response", f"choice indices [{shown}] are not 0..{n - 1} once each"))


def _listed(payload: bytes) -> set[str]:
    """The model ids a ``/models`` reply lists (none when it is not the OpenAI shape)."""
    try:
        return {model.id for model in _decode_models(payload).data}
    except (msgspec.DecodeError, msgspec.ValidationError):
        return set()


def _said(response: Response) -> str:
    """``STATUS: the start of the body`` on one line, for messages."""
    text = " ".join(response.body[:200].decode("utf-8", "replace").split())
    return f"{response.status} {text}".rstrip()


def _choice_tokens(
    choices: list[_Choice], texts: list[str], usage: _Usage | None, max_tokens: int
) -> tuple[list[int], bool]:
    """Each choice's completion tokens, and whether they are estimates (see OpenAIBackend).

    An estimate never passes ``max_tokens``, and a choice cut by the limit (finish ``length``)
    has exactly that many; the rest of the total is shared out by the other choices' bytes."""
    if all(choice.token_ids is not None for choice in choices):
        return [len(choice.token_ids or ()) for choice in choices], False
    if usage is not None and len(choices) == 1:
        return [usage.completion_tokens], False
    cut = [choice.finish_reason == "length" for choice in choices]
    sizes = [0 if c else len(text.encode()) for c, text in zip(cut, texts, strict=True)]
    if usage is None or not usage.completion_tokens:
        counts = [math.ceil(size / BYTES_PER_TOKEN) for size in sizes]
    else:
        counts = _shares(max(usage.completion_tokens - sum(cut) * max_tokens, 0), sizes)
    return [max_tokens if c else min(n, max_tokens) for c, n in zip(cut, counts, strict=True)], True


def _shares(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder): the parts sum to it."""
    if not sum(weights):
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    parts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(parts)), key=lambda i: parts[i] - exact[i])
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _text(choice: _Choice) -> str:
    """The completion text; a separate reasoning field is kept as a ``<think>`` block."""
    if choice.message is None:
        return choice.text or ""
    content = choice.message.content or ""
    if choice.message.reasoning_content:
        return f"<think>\n{choice.message.reasoning_content}\n</think>\n\n{content}"
    return content


class OpenAIBackend:
    """Sends GenerationRequests to ``{base_url}/chat/completions`` (or ``/completions``).

    Native ``n`` when the server takes it (one request for all samples; vLLM gives sample i the
    seed ``seed + i``, which is the seed recorded), else fan-out of n=1 requests with each
    sample's own seed. Retries 429, 5xx, timeouts, connection errors and garbage bodies with
    exponential backoff and full jitter, honouring Retry-After; other 4xx fail at once, and
    401, 403 and 404 (the key or the model refused) raise TeacherUnavailable, which stops the
    job. 429s do not use up ``max_attempts``: they are retried until ``rate_limit_patience_s``
    has passed.

    Each sample's ``completion_tokens`` is its own: the choice's ``token_ids`` where the server
    returns them (vLLM: ``extra_body = { return_token_ids = true }``), the usage of a one-choice
    response, else counted with the teacher model's tokenizer when it is on this machine
    (engine.tokenizer), else the server's total shared out by each choice's UTF-8 bytes and
    marked estimated (bytes / 4 without usage).
    """

    name = "openai"

    def __init__(self, spec: TeacherSpec, metrics: Metrics | None = None):
        self.spec = spec
        self.model = spec.model
        self.metrics = metrics or Metrics()
        self.limiter = RequestLimiter(spec.rpm, spec.tpm, spec.max_in_flight, spec.min_in_flight)
        self.native_n = spec.native_n
        self.base_path = urlsplit(spec.base_url).path.rstrip("/")
        self.path = self.base_path + ("/chat/completions" if spec.api == "chat" else "/completions")
        self._client: HTTPClient | None = None
        self._tokens_per_sample: float | None = None  # learned from usage
        self._tokenizer: TokenCounter | None = None
        self._tokenizer_tried = False

    def limits(self) -> dict[str, AIMDConcurrency]:
        return {self.spec.base_url: self.limiter.concurrency}

    def _new_client(self, timeout: float) -> HTTPClient:
        headers = {"Content-Type": "application/json"}
        if self.spec.api_key_env:
            headers["Authorization"] = f"Bearer {os.environ[self.spec.api_key_env]}"
        connect_timeout = min(self.spec.connect_timeout_s, timeout)
        return HTTPClient(self.spec.base_url, headers, timeout, connect_timeout)

    async def preflight(self) -> str | None:
        """Why this server would refuse every request, or None. ``GET /models`` first: no
        connection, or 401/403, is a refusal; a list naming the model is a pass. Otherwise
        (no /models, or the model not listed) one request for one token decides: 401, 403 or
        404 is a refusal. A slow answer or any other status passes (the run's retries and
        timeouts judge those)."""
        url = self.spec.base_url
        client = self._new_client(min(self.spec.request_timeout_s, PREFLIGHT_S))
        try:
            try:
                models = await client.request("GET", self.base_path + "/models")
            except RequestTimeout:
                return None
            except HTTPError as error:
                return f"{url}: {error}"
            if models.status in (401, 403):
                return f"{url} refused the API key: {_said(models)}"
            if models.status == 200 and self.model in _listed(models.body):
                return None
            probe = GenerationRequest([Message("user", "Say OK.")], [0], max_tokens=1)
            try:
                reply = await client.post(self.path, self._body(probe, 0, 1))
            except HTTPError:
                return None
            if reply.status in REFUSALS:
                return f"{url} refused a request for model {self.model!r}: {_said(reply)}"
            return None
        finally:
            await client.close()

    async def start(self) -> None:
        self._client = self._new_client(self.spec.request_timeout_s)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def generate(self, request: GenerationRequest) -> Generation:
        started = time.monotonic()
        seeds = request.seeds
        consecutive = seeds == list(range(seeds[0], seeds[0] + len(seeds)))  # vLLM: seed + i
        if request.n == 1 or (self.native_n and consecutive):
            try:
                completions, attempts = await self._call(request, request.seeds[0], request.n)
                return Generation(completions, attempts, time.monotonic() - started)
            except _RejectedN:
                self.native_n = False
        results = await asyncio.gather(
            *(self._call(request, seed, 1) for seed in request.seeds), return_exceptions=True
        )
        completions, attempts = [], 0
        for index, result in enumerate(results):
            if isinstance(result, BaseException):
                raise result
            (completion,), tries = result
            completion.index = index
            completions.append(completion)
            attempts = max(attempts, tries)
        return Generation(completions, attempts, time.monotonic() - started)

    def _body(self, request: GenerationRequest, seed: int, n: int) -> bytes:
        body: dict[str, object] = {
            "model": self.model,
            "n": n,
            "seed": seed,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            body["stop"] = request.stop
        if self.spec.api == "chat":
            body["messages"] = request.messages
        else:
            body["prompt"] = "\n\n".join(m.content for m in request.messages if m.content)
        body.update(self.spec.extra_body)
        return _encode(body)

    def _estimate_tokens(self, body: bytes, request: GenerationRequest, n: int) -> int:
        """Prompt tokens ~ bytes/4; output from max_tokens until usage teaches us better."""
        per_sample = request.max_tokens
        if self._tokens_per_sample is not None:
            per_sample = min(per_sample, int(self._tokens_per_sample * 1.2) + 16)
        return len(body) // 4 + n * per_sample

    def _learn(self, usage: _Usage, n: int) -> None:
        observed = usage.completion_tokens / max(n, 1)
        previous = self._tokens_per_sample
        self._tokens_per_sample = observed if previous is None else 0.9 * previous + 0.1 * observed

    async def _call(
        self, request: GenerationRequest, seed: int, n: int
    ) -> tuple[list[Completion], int]:
        """One logical request with retries; returns completions and the attempt count."""
        body = self._body(request, seed, n)
        estimate = self._estimate_tokens(body, request, n)
        attempt = failures = 0
        started = time.monotonic()
        while True:
            attempt += 1
            try:
                return await self._attempt(body, estimate, n, request.max_tokens), attempt
            except _Retry as retry:
                # 429 means "wait", not "broken": it spends patience, not the attempt budget
                rate_limited = retry.failure.kind == "rate_limited"
                failures += not rate_limited
                waited = time.monotonic() - started + (retry.wait or 0.0)
                if failures >= self.spec.max_attempts or (
                    rate_limited and waited > self.spec.rate_limit_patience_s
                ):
                    raise BackendError(retry.failure, attempt) from None
                self.metrics.retries += 1
                step = min(attempt, 30)
                backoff = min(self.spec.backoff_max_s, self.spec.backoff_base_s * 2 ** (step - 1))
                await asyncio.sleep(max(retry.wait or 0.0, random.uniform(0, backoff)))
            except BackendError as error:
                error.attempts = attempt
                raise

    async def _attempt(
        self, body: bytes, estimate: int, n: int, max_tokens: int
    ) -> list[Completion]:
        assert self._client is not None, "backend not started"
        metrics = self.metrics
        await self.limiter.acquire(estimate)
        metrics.in_flight += 1
        metrics.requests += 1
        used: int | None = None
        overloaded = False
        try:
            response = await self._client.post(self.path, body)
            self.limiter.observe_headers(response.headers)
            if response.status != 200:
                overloaded = response.status in (429, 503)
                raise self._failure(response.status, response.body, response.headers, n)
            completions = self._completions(response.body, n, max_tokens)
            used = completions[0].prompt_tokens + sum(c.completion_tokens for c in completions)
            if completions[0].tokens_estimated and (tokenizer := await self._counter()):
                counts = await asyncio.to_thread(
                    lambda: [tokenizer.tokens(c.text) for c in completions]
                )
                for completion, count in zip(completions, counts, strict=True):
                    completion.completion_tokens, completion.tokens_estimated = count, False
            return completions
        except _Retry as retry:
            overloaded = overloaded or retry.overloaded
            raise
        except RequestTimeout:
            raise _Retry(Failure("timeout", "request timed out")) from None
        except HTTPError as error:
            raise _Retry(Failure("connection", str(error))) from None
        finally:
            metrics.in_flight -= 1
            self.limiter.release(estimated_tokens=estimate, used_tokens=used, overloaded=overloaded)

    def _completions(self, payload: bytes, n: int, max_tokens: int) -> list[Completion]:
        try:
            response = _decode_response(payload)
        except msgspec.DecodeError as error:
            raise _Retry(Failure("bad_response", f"undecodable body: {error}")) from None
        if len(response.choices) != n:
            detail = f"expected {n} choices, got {len(response.choices)}"
            raise _Retry(Failure("bad_response", detail))
        choices = _in_sample_order(response.choices, n)
        usage = response.usage or _Usage()
        self._learn(usage, n)
        self.metrics.count_usage(self.model, usage.prompt_tokens, usage.completion_tokens)
        texts = [_text(choice) for choice in choices]
        counts, estimated = _choice_tokens(choices, texts, response.usage, max_tokens)
        return [
            Completion(
                index=i,
                text=text,
                finish_reason=choice.finish_reason,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=count,
                tokens_estimated=estimated,
            )
            for i, (choice, text, count) in enumerate(zip(choices, texts, counts, strict=True))
        ]

    async def _counter(self) -> TokenCounter | None:
        """The teacher model's tokenizer when it loads here (tried once, off the event loop)."""
        if not self._tokenizer_tried:
            self._tokenizer_tried = True
            counter = await asyncio.to_thread(token_counter, self.model, False)
            self._tokenizer = counter if counter.method == "tokenizer" else None
        return self._tokenizer

    def _failure(self, status: int, payload: bytes, headers, n: int) -> Exception:
        detail = payload[:300].decode("utf-8", "replace")
        if status == 429:
            self.metrics.rate_limited += 1
            wait = retry_after(headers)
            if wait is not None:
                self.limiter.pause(wait)
            return _Retry(Failure("rate_limited", detail, status), wait, overloaded=True)
        if status >= 500:
            self.metrics.server_errors += 1
            return _Retry(Failure("server_error", detail, status), retry_after(headers))
        if status == 400 and n > 1 and self.native_n:
            return _RejectedN()
        if status in REFUSALS:  # so would every request be: stop, rather than record failures
            response = Response(status, {}, payload)
            return TeacherUnavailable(f"{self.spec.base_url} refused a request: {_said(response)}")
        return BackendError(Failure("client_error", detail, status))
