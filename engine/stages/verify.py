"""Verify stage: label every sample with a Verdict from the verifier of its domain."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from engine.metrics import Metrics
from engine.pipeline import Emit
from engine.records import Question, Sample
from engine.specs import VerifySpec
from engine.stages.items import Item
from verifiers.verdict import Verdict

log = logging.getLogger(__name__)


class Verifiers:
    """The verifiers of a job: math worker processes and code sandboxes, each opened on first
    use and closed with this object. A verifier that raises yields ``infra_error``, never
    ``wrong_answer``. Shared by the verify stage and, for early stop, the generate stage."""

    def __init__(self, spec: VerifySpec, metrics: Metrics):
        self.spec = spec
        self.metrics = metrics
        self._stack = AsyncExitStack()
        self._pools: dict[str, Any] = {}
        self._opening: dict[str, asyncio.Lock] = {"math": asyncio.Lock(), "code": asyncio.Lock()}

    async def __aenter__(self) -> Verifiers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def label(self, question: Question, sample: Sample) -> None:
        """Set ``sample.verdict`` (left None when there is nothing to check)."""
        if sample.completion is None:
            return
        started = time.perf_counter()
        try:
            sample.verdict = await self.verify(question, sample)
        except Exception as error:  # a verifier bug or broken pool is infrastructure
            log.exception("verifier failed on %s/%d", sample.question_id, sample.sample_index)
            sample.verdict = Verdict("infra_error", detail=f"{type(error).__name__}: {error}")
        if sample.verdict is not None:
            self.metrics.verify_seconds[sample.domain].observe(time.perf_counter() - started)
            self.metrics.count_verdict(sample.domain, sample.verdict.status)

    async def verify(self, question: Question, sample: Sample) -> Verdict | None:
        completion = sample.completion or ""
        if sample.mcq_key is not None:
            from verifiers.mcq import verify as verify_choice

            return verify_choice(completion, sample.mcq_key)
        if question.domain == "code":
            if question.tests is None or not self.spec.code.enabled:
                return None
            return await (await self._verifier("code", self._open_code)).verify(
                completion, question.tests
            )
        if question.answer is None or (question.domain == "math" and not self.spec.math.enabled):
            return None
        return await (await self._verifier("math", self._open_math)).verify(
            completion, question.answer
        )

    async def _verifier(self, name: str, open_: Callable[[], Awaitable[Any]]) -> Any:
        """The verifier ``name``, opened once on first use; its pool closes with this object."""
        if (verifier := self._pools.get(name)) is not None:
            return verifier
        async with self._opening[name]:
            if name not in self._pools:
                self._pools[name] = await open_()
        return self._pools[name]

    async def _open_math(self) -> Any:
        from verifiers.math import MathVerifierPool

        pool = MathVerifierPool(self.spec.math.workers, self.spec.math.timeout_s)
        return await self._stack.enter_async_context(pool)

    async def _open_code(self) -> Any:
        from sandbox import Limits, open_pool
        from verifiers.code import CodeVerifier

        spec = self.spec.code
        pool = await self._stack.enter_async_context(open_pool(spec.sandbox, size=spec.pool_size))
        bounds = {"time_s": spec.time_s, "memory_mb": spec.memory_mb}
        limits = Limits(**{name: value for name, value in bounds.items() if value is not None})
        return CodeVerifier(pool, limits=limits, allow_local=spec.sandbox == "local")  # opt-in


class VerifyStage:
    """Item -> Item with ``sample.verdict`` set (already set by early stop: left as it is)."""

    name = "verify"
    drop_on_stop = False

    def __init__(self, verifiers: Verifiers):
        self.verifiers = verifiers
        self.concurrency = verifiers.spec.concurrency

    async def process(self, item: Item, emit: Emit) -> None:
        if item.sample.verdict is None:
            await self.verifiers.label(item.question, item.sample)
        await emit(item)
