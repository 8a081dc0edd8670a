"""Generate stage: one teacher call per unit of work, one sample per requested index."""

from __future__ import annotations

import msgspec

from engine.backends.base import Backend, BackendError, Completion, GenerationRequest
from engine.config import Recipe
from engine.metrics import Metrics
from engine.pipeline import Emit
from engine.records import Failure, Sample, Teacher, Usage
from engine.stages.items import Item, Work
from engine.stages.verify import Verifiers


def _take(sample: Sample, completion: Completion) -> None:
    """Copy a completion's text, finish reason and token usage into its sample."""
    sample.completion = completion.text
    sample.finish_reason = completion.finish_reason
    sample.usage = Usage(
        completion.prompt_tokens, completion.completion_tokens, completion.tokens_estimated
    )


class GenerateStage:
    """Work -> one Item per sample: a completion, or a typed failure. Never drops a sample.

    With early stop (``sampling.stop_after_passed``), ``verifiers`` label answers as they
    arrive, so sampling stops once enough have passed.
    """

    name = "generate"
    drop_on_stop = True

    def __init__(
        self,
        recipe: Recipe,
        backend: Backend,
        recipe_hash: str,
        metrics: Metrics,
        verifiers: Verifiers | None = None,
    ):
        self.recipe = recipe
        self.backend = backend
        self.verifiers = verifiers
        self.teacher = Teacher(backend.name, backend.model)
        self.recipe_hash = recipe_hash
        self.metrics = metrics
        self.concurrency = recipe.teacher.max_in_flight

    async def process(self, work: Work, emit: Emit) -> None:
        if self.verifiers is None or not self.recipe.sampling.stop_after_passed:
            for sample in await self._generate(work, work.request):
                await emit(Item(work.question, sample))
        else:
            await self._until_passed(work, emit, self.verifiers)

    async def _until_passed(self, work: Work, emit: Emit, verifiers: Verifiers) -> None:
        """Early stop: sample in rounds of k, verifying as we go, until k answers passed; the
        samples never requested are recorded as ``early_stopped`` (teacher calls saved)."""
        k = self.recipe.sampling.stop_after_passed
        request, passed = work.request, 0
        for start in range(0, request.n, k):
            if passed >= k:
                for offset in range(start, request.n):
                    sample = self._sample(work, request.first_index + offset, request.seeds[offset])
                    sample.failure, sample.attempts = Failure("early_stopped", f"{k} passed"), 0
                    self.metrics.early_stopped += 1
                    await emit(Item(work.question, sample))
                return
            round_ = msgspec.structs.replace(
                request,
                seeds=request.seeds[start : start + k],
                first_index=request.first_index + start,
            )
            for sample in await self._generate(work, round_):
                await verifiers.label(work.question, sample)
                passed += sample.verdict is not None and sample.verdict.passed
                await emit(Item(work.question, sample))

    async def _generate(self, work: Work, request: GenerationRequest) -> list[Sample]:
        """One teacher call: a sample per seed, each a completion or the call's typed failure."""
        samples = []
        self.metrics.question_requested(work.question.id)
        try:
            generation = await self.backend.generate(request)
        except BackendError as error:
            self.metrics.failures[error.failure.kind] += request.n
            for offset, seed in enumerate(request.seeds):
                sample = self._sample(work, request.first_index + offset, seed)
                sample.failure, sample.attempts = error.failure, error.attempts
                samples.append(sample)
            return samples
        self.metrics.request_seconds[self.teacher.model].observe(generation.latency_s)
        tokens = self.metrics.completion_tokens_by_domain[work.question.domain]
        for completion in generation.completions:
            index = request.first_index + completion.index
            sample = self._sample(work, index, request.seeds[completion.index])
            _take(sample, completion)
            tokens.observe(completion.completion_tokens)
            sample.latency_s = generation.latency_s
            sample.attempts = generation.attempts
            if completion.finish_reason == "length":
                await self._truncated(work, sample)
            samples.append(sample)
        return samples

    def _sample(self, work: Work, index: int, seed: int) -> Sample:
        return Sample(
            question_id=work.question.id,
            sample_index=index,
            recipe_hash=self.recipe_hash,
            seed=seed,
            domain=work.question.domain,
            teacher=self.teacher,
            messages=work.request.messages,
            mcq_key=work.mcq_key,
        )

    async def _truncated(self, work: Work, sample: Sample) -> None:
        """Apply the truncation policy: keep (marked), retry with a larger budget, or drop."""
        policy = self.recipe.sampling
        sample.truncated = True
        if policy.on_truncation == "retry":
            budget = work.request.max_tokens
            while sample.truncated and budget < policy.truncation_max_tokens:
                budget = min(
                    policy.truncation_max_tokens, int(budget * policy.truncation_retry_factor)
                )
                retry = msgspec.structs.replace(
                    work.request,
                    seeds=[sample.seed],
                    max_tokens=budget,
                    first_index=sample.sample_index,
                )
                try:
                    generation = await self.backend.generate(retry)
                except BackendError:
                    break  # keep the truncated completion we have
                (completion,) = generation.completions
                _take(sample, completion)
                sample.attempts += generation.attempts
                sample.truncated = completion.finish_reason == "length"
        if sample.truncated:
            self.metrics.truncated += 1
            if policy.on_truncation == "drop":
                detail = f"finish_reason=length at max_tokens={work.request.max_tokens}"
                sample.failure = Failure("truncated", detail)
                sample.completion = None
