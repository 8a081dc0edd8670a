"""Planning stages: which work is still missing from the output (exactly-once resume)."""

from __future__ import annotations

from collections.abc import Iterator

from engine.backends.base import GenerationRequest
from engine.config import Recipe
from engine.funnel import Funnel
from engine.metrics import Metrics
from engine.pipeline import Emit
from engine.prompts import question_seed, render, with_options
from engine.records import Question
from engine.stages.items import Work
from engine.storage.output import DoneSet
from engine.storage.sink import SampleSink


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


class PlanStage:
    """Question -> Work for the sample indices not yet in the output (exactly-once resume)."""

    name = "plan"
    concurrency = 1
    drop_on_stop = True

    def __init__(
        self,
        recipe: Recipe,
        done: DoneSet,
        samples: SampleSink,
        metrics: Metrics,
        max_n_per_request: int = 64,
    ):
        self.recipe = recipe
        self.done = done
        self.samples = samples
        self.metrics = metrics
        self.position = 0  # ordinal of the next question: the stream is deterministic
        self.max_n = max_n_per_request

    async def process(self, question: Question, emit: Emit) -> None:
        sampling = self.recipe.sampling
        ordinal, self.position = self.position, self.position + 1
        missing = self.done.missing(question.id, sampling.n, ordinal)
        self.metrics.samples_skipped_resume += sampling.n - len(missing)
        if not missing:
            self.metrics.questions_done += 1
            return
        self.samples.expect(question.id, ordinal, len(missing))
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


class SkipScored:
    """Curation: drops questions a previous run already scored or excluded (replayed after a
    restart), so no scorer request is made twice."""

    name = "resume"
    concurrency = 1
    drop_on_stop = True

    def __init__(self, handled: set[str]):
        self.handled = handled
        self.funnel = Funnel()

    async def process(self, question: Question, emit: Emit) -> None:
        if question.id in self.handled:
            self.funnel.count("score", question.domain, "done_before")
            return
        await emit(question)
