"""A generation job: the lifecycle of one run of a recipe into its output directory.

Open the output (resume), run curation, the top-N barrier, sampling, react to signals, finish
(seal every shard, write the manifest). What runs in each phase is built by engine.build.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from engine import build
from engine.backends.base import Backend
from engine.config import Recipe, missing_keys
from engine.errors import ConfigError
from engine.exits import Exit, run_failure
from engine.funnel import Funnel
from engine.metrics import Metrics
from engine.pipeline import Pipeline, Stage
from engine.records import ModelUsage, Question
from engine.specs import SelectSpec
from engine.stages.exclusions import Exclusions
from engine.stages.plan import stream_scope
from engine.stages.top_n import SelectTop
from engine.stages.verify import Verifiers
from engine.storage.outcomes import Outcome
from engine.storage.output import OutputDir
from engine.storage.selection import load_selection, selection_path
from engine.storage.sink import RecordSink, SampleSink


class Job:
    """One run of a recipe into its output directory.

    Without scoring or selection: source -> filter -> plan -> generate -> verify -> write.
    With them, first curation (source -> filter -> score -> scored shards), then the top-N
    barrier (persisted selection), then sampling over the selection.
    """

    def __init__(
        self, recipe: Recipe, *, allow_recipe_change: bool = False, teacher: Backend | None = None
    ):
        self.recipe = recipe
        self.allow_recipe_change = allow_recipe_change
        self.teacher = teacher  # started and closed by its owner (an eval shares one vLLM)
        self.metrics = Metrics()
        for spec in (recipe.teacher, recipe.scorer):
            if spec is not None and (spec.price_input_per_m or spec.price_output_per_m):
                self.metrics.prices[spec.model] = (spec.price_input_per_m, spec.price_output_per_m)
        self.recipe_hash = recipe.sample_hash()
        self.output = OutputDir(Path(recipe.output.dir), recipe.job.name, recipe.job.worker)
        self.pipeline: Pipeline | None = None
        self.signals = 0
        self.forced = False
        self.complete = False
        self.failure: str | None = None  # why the run failed (exit 1), for the user
        self._funnels: list[Funnel] = []  # of every stage that counts, in pipeline order

    @property
    def stopped(self) -> bool:
        return self.signals > 0

    @property
    def funnel(self) -> Funnel:
        """Counts per stage, domain and outcome: this run's, before sampling; sample outcomes
        from the whole output."""
        return Funnel.merged(self._funnels)

    def on_signal(self) -> None:
        """First signal: stop taking new work and drain. Second: abandon in-flight work now."""
        self.signals += 1
        if self.pipeline is None:
            return
        if self.signals == 1:
            self.metrics.state = "stopping"
            self.pipeline.stop()
        else:
            self.forced = True
            self.pipeline.abort()

    async def run(self) -> int:
        if missing := missing_keys(self.recipe):
            raise ConfigError("\n".join(missing))
        recipe, metrics = self.recipe, self.metrics
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(metrics.loop_lag)
            mock_url = await stack.enter_async_context(build.mock_teacher(recipe))
            teacher = self.teacher or build.make_backend(recipe.teacher, metrics, mock_url)
            scorer = build.make_backend(recipe.scorer, metrics, mock_url) if recipe.scorer else None
            await build.preflight({"teacher": teacher, "scorer": scorer})  # before writing
            for section, backend in (("teacher", teacher), ("scorer", scorer)):
                for replica, limiter in backend.limits().items() if backend else ():
                    metrics.concurrency_limits[section, replica] = lambda c=limiter: c.ceiling
            stack.enter_context(self.output.lock())  # one writer per output, for the whole run
            recipe_dict = msgspec.to_builtins(recipe)
            self.output.open(recipe_dict, self.recipe_hash, self.allow_recipe_change)
            exclusions = Exclusions(self.output.stream("excluded"), recipe.output)
            samples = SampleSink(self.output.samples, recipe.output)
            counting = asyncio.ensure_future(self._count_questions())
            stack.push_async_callback(self._finish, samples, exclusions, counting)
            metrics.state = "running"
            if recipe.scorer is not None or recipe.select is not None:
                selected = await self._curate(stack, scorer, exclusions)
                if selected is None:
                    return self._exit_code()
                source: Iterable[Question] = selected
                filters: list[Stage] = []
                scope = stream_scope(recipe, self.recipe_hash, self._selection_path())
            else:
                source = self._read()
                filters = build.filter_stages(recipe, exclusions)
                scope = stream_scope(recipe, self.recipe_hash, None)
            samples.begin(scope)
            done = self.output.done_set(scope, recipe.output.retry_failed)
            if self.teacher is None:
                await self._start(stack, teacher)
            verifiers = await stack.enter_async_context(Verifiers(recipe.verify, metrics))
            stages = filters + build.sampling_stages(
                recipe, self.recipe_hash, done, samples, teacher, verifiers, metrics
            )
            await self._run(source, stages, [samples, exclusions.sink])
            self.complete = not samples.pending
        return self._exit_code()

    def _exit_code(self) -> int:
        if self.forced:
            return Exit.FORCED
        return Exit.FAILED if self.failure else Exit.OK

    def _read(self) -> build.QuestionStream:
        stream = build.QuestionStream(self.recipe)
        self._funnels.append(stream.funnel)
        return stream

    @staticmethod
    async def _start(stack: contextlib.AsyncExitStack, backend: Backend) -> None:
        await backend.start()
        stack.push_async_callback(backend.close)

    async def _curate(
        self, stack: contextlib.AsyncExitStack, scorer: Backend | None, exclusions: Exclusions
    ) -> Iterable[Question] | None:
        """Curation and the top-N barrier; the persisted selection, or None when stopped."""
        recipe = self.recipe
        path = self._selection_path()
        if (selection := load_selection(path)) is not None:
            return selection
        scored_stream = self.output.stream("scored")
        handled = scored_stream.known_ids() | exclusions.written
        scored = RecordSink(scored_stream.writer(recipe.output))
        if scorer is not None:
            await self._start(stack, scorer)
        stages = build.curation_stages(recipe, exclusions, scorer, handled, scored)
        try:
            await self._run(self._read(), stages, [scored, exclusions.sink])
        finally:
            await scored.close()
        if self.stopped:
            return None
        barrier = SelectTop(recipe.select or SelectSpec(), exclusions, path, recipe.output)
        self._funnels.append(barrier.funnel)
        await barrier.run(scored_stream.read(Question))
        return load_selection(path)

    def _selection_path(self) -> Path:
        name, curation = self.recipe.job.name, self.recipe.curation_hash()
        return selection_path(self.output.directory, name, curation)

    async def _run(self, source: Any, stages: list[Stage], sinks: list[RecordSink]) -> None:
        """Run one pipeline while its sinks flush on a timer; a forced stop is not an error."""
        self._funnels += [stage.funnel for stage in stages if hasattr(stage, "funnel")]
        self.pipeline = pipeline = Pipeline(source, stages, self.recipe.limits.queue_size)
        self.metrics.gauge(
            "queue_depth",
            "Items waiting in front of each stage",
            "stage",
            lambda: {
                s.name: q.qsize() for s, q in zip(pipeline.stages, pipeline.queues, strict=True)
            },
        )
        if self.stopped:
            self.pipeline.stop()
        seconds = self.recipe.output.flush_seconds
        tickers = [asyncio.ensure_future(sink.flush_every(seconds)) for sink in sinks]
        try:
            await self.pipeline.run()
        except asyncio.CancelledError:
            if not self.forced:
                raise
        finally:
            for ticker in tickers:
                ticker.cancel()

    async def _finish(
        self, samples: SampleSink, exclusions: Exclusions, counting: asyncio.Future[None]
    ) -> None:
        """Seal every open shard and record the outcome in the manifest."""
        counting.cancel()
        await exclusions.sink.close()
        await samples.close()
        for path, index in samples.writer.closed_shards:
            self.output.samples.add_closed(path, index)
        sampled = Funnel()
        for text, count in self.output.samples.outcomes.items():
            outcome = Outcome.parse(text)
            sampled.count("sample", outcome.domain, outcome.label, count)
        self._funnels.append(sampled)
        if not self.stopped:
            self.failure = run_failure(self.metrics, self.recipe.limits.max_failed_share)
        finished = self.complete and not self.stopped
        self.metrics.state = "failed" if self.failure else "finished" if finished else "interrupted"
        assert self.output.manifest is not None
        usage = dict(self.output.manifest.usage)  # of earlier runs: only this writes it
        for model, used in self.metrics.usage.items():
            usage[model] = usage.get(model, ModelUsage()) + used
        self.output.write_manifest(self.metrics.state, self.funnel.as_dict(), usage=usage)

    async def _count_questions(self) -> None:
        """Total for progress and ETA: counted in a thread from local sources (not the hub)."""
        if any(spec.hf for spec in self.recipe.sources):
            total = self.recipe.limits.max_questions or None
        else:
            total = await asyncio.to_thread(build.QuestionStream(self.recipe).count)
        self.metrics.questions_total = total
        self.output.write_manifest("running", questions_total=total)  # for `status`


def install_signal_handlers(job: Job) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, job.on_signal)
