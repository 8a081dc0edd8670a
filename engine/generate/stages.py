"""Pipeline stages that turn questions into samples: plan what is missing, then call the teacher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import msgspec

from engine.backends.base import Backend, BackendError, Completion, GenerationRequest
from engine.config import Recipe
from engine.generate.prompts import question_seed, render, with_options
from engine.metrics import Metrics
from engine.pipeline import Emit
from engine.records import Failure, Question, Sample, Teacher, Usage
from engine.storage.output import DoneSet


class Work(msgspec.Struct):
    """One teacher request for one question; ``mcq_key`` is the correct letter after shuffling."""

    question: Question
    request: GenerationRequest
    mcq_key: str | None = None


class Item(msgspec.Struct):
    """A sample with the question it answers, on its way to verification and the writer."""

    question: Question
    sample: Sample


def contiguous_runs(indices: list[int], limit: int) -> Iterator[list[int]]:
    """Split sorted indices into runs of consecutive values, each at most ``limit`` long."""
    run: list[int] = []
    for index in indices:
        if run and (index != run[-1] + 1 or len(run) == limit):
            yield run
            run = []
        run.append(index)
    if run:
        yield run


class Tracker:
    """Counts outstanding samples per question; tells ``on_complete`` the ordinal of each
    question whose last sample has been written."""

    def __init__(self, metrics: Metrics, on_complete: Callable[[int], None] | None = None):
        self.metrics = metrics
        self.on_complete = on_complete
        self.pending: dict[str, list[int]] = {}  # question id -> [samples left, ordinal]

    def expect(self, question_id: str, ordinal: int, samples: int) -> None:
        self.pending[question_id] = [samples, ordinal]

    def is_open(self, question_id: str) -> bool:
        return question_id in self.pending

    def written(self, question_id: str) -> None:
        entry = self.pending[question_id]
        entry[0] -= 1
        if not entry[0]:
            del self.pending[question_id]
            self.metrics.questions_done += 1
            if self.on_complete is not None:
                self.on_complete(entry[1])


class PlanStage:
    """Question -> Work for the sample indices not yet in the output (exactly-once resume)."""

    name = "plan"
    concurrency = 1
    drop_on_stop = True

    def __init__(
        self, recipe: Recipe, done: DoneSet, tracker: Tracker, max_n_per_request: int = 64
    ):
        self.recipe = recipe
        self.done = done
        self.tracker = tracker
        self.position = 0  # ordinal of the next question: the stream is deterministic
        self.max_n = max_n_per_request

    async def process(self, question: Question, emit: Emit) -> None:
        sampling = self.recipe.sampling
        ordinal, self.position = self.position, self.position + 1
        missing = self.done.missing(question.id, sampling.n, ordinal)
        metrics = self.tracker.metrics
        metrics.samples_skipped_resume += sampling.n - len(missing)
        if not missing:
            metrics.questions_done += 1
            return
        self.tracker.expect(question.id, ordinal, len(missing))
        base = question_seed(self.recipe.job.seed, question.id)
        if question.choices and self.recipe.verify.science.mode == "mcq":
            for index in missing:  # options are shuffled per sample: one prompt each
                await emit(self._mcq_work(question, base + index, index))
            return
        messages = render(self.recipe.prompt, question.problem)
        for run in contiguous_runs(missing, self.max_n):
            await emit(Work(question, self._request(messages, [base + i for i in run], run[0])))

    def _request(self, messages, seeds: list[int], first_index: int) -> GenerationRequest:
        s = self.recipe.sampling
        return GenerationRequest(
            messages, seeds, s.max_tokens, s.temperature, s.top_p, s.stop, first_index
        )

    def _mcq_work(self, question: Question, seed: int, index: int) -> Work:
        from verifiers.mcq import shuffle_choices

        options, key = shuffle_choices(question.choices or [], question.answer or "", seed)
        messages = render(self.recipe.prompt, with_options(question, options))
        return Work(question, self._request(messages, [seed], index), key)


Label = Callable[[Question, Sample], Awaitable[None]]


def _take(sample: Sample, completion: Completion) -> None:
    """Copy a completion's text, finish reason and token usage into its sample."""
    sample.completion = completion.text
    sample.finish_reason = completion.finish_reason
    sample.usage = Usage(
        completion.prompt_tokens, completion.completion_tokens, completion.tokens_estimated
    )


class GenerateStage:
    """Work -> one Item per sample: a completion, or a typed failure. Never drops a sample.

    ``label`` (the verify stage's) lets early stop verify answers as they arrive.
    """

    name = "generate"
    drop_on_stop = True

    def __init__(
        self,
        recipe: Recipe,
        backend: Backend,
        recipe_hash: str,
        metrics: Metrics,
        label: Label | None = None,
    ):
        self.recipe = recipe
        self.backend = backend
        self.label = label
        self.teacher = Teacher(backend.name, backend.model)
        self.recipe_hash = recipe_hash
        self.metrics = metrics
        self.concurrency = recipe.teacher.max_in_flight

    async def process(self, work: Work, emit: Emit) -> None:
        if self.label is None or not self.recipe.sampling.stop_after_passed:
            for sample in await self._generate(work, work.request):
                await emit(Item(work.question, sample))
        else:
            await self._until_passed(work, emit, self.label)

    async def _until_passed(self, work: Work, emit: Emit, label: Label) -> None:
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
                await label(work.question, sample)
                passed += sample.verdict is not None and sample.verdict.passed
                await emit(Item(work.question, sample))

    async def _generate(self, work: Work, request: GenerationRequest) -> list[Sample]:
        """One teacher call: a sample per seed, each a completion or the call's typed failure."""
        samples = []
        try:
            generation = await self.backend.generate(request)
        except BackendError as error:
            self.metrics.failures[error.failure.kind] += request.n
            for offset, seed in enumerate(request.seeds):
                sample = self._sample(work, request.first_index + offset, seed)
                sample.failure, sample.attempts = error.failure, error.attempts
                samples.append(sample)
            return samples
        for completion in generation.completions:
            index = request.first_index + completion.index
            sample = self._sample(work, index, request.seeds[completion.index])
            _take(sample, completion)
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
