"""A generation job: sources -> plan -> generate -> verify -> write, with resume and signals."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec

from engine.backends.base import Backend
from engine.config import ConfigError, Recipe, missing_keys
from engine.curate import (
    Exclusions,
    FilterStage,
    Funnel,
    ScoredSink,
    SkipHandled,
    known_ids,
    scored_questions,
    select_top,
)
from engine.decont import Decontaminator
from engine.dedup import Dedup
from engine.exits import Exit
from engine.generate.stages import GenerateStage, PlanStage, Tracker
from engine.metrics import Metrics
from engine.mixing import Mixer
from engine.pipeline import Pipeline, Stage
from engine.records import Question
from engine.scoring import scoring_stages
from engine.select import SelectSpec, TopN, load_selection
from engine.sources import Source
from engine.specs import TeacherSpec
from engine.storage.output import OutputDir
from engine.storage.sink import RecordSink, WriteStage
from engine.verification import VerifyStage


def questions(recipe: Recipe) -> Iterator[Question]:
    """The recipe's questions, streamed: mixed by quota and weight when ``[mix]`` is set, else
    source after source; capped by limits.max_questions."""
    if recipe.mix is not None:
        stream: Iterator[Question] = iter(Mixer.from_specs(recipe.mix, recipe.sources))
    else:
        stream = itertools.chain.from_iterable(Source(spec) for spec in recipe.sources)
    return itertools.islice(stream, recipe.limits.max_questions or None)


def question_count(recipe: Recipe) -> int:
    """How many questions ``questions(recipe)`` yields, from the local files' row counts: each
    domain gives its sources' total up to its mixing quota."""
    per_domain: Counter[str] = Counter()
    for spec in recipe.sources:
        per_domain[spec.domain] += Source(spec).count()
    quotas = recipe.mix.quotas if recipe.mix is not None else {}
    total = sum(min(count, quotas.get(domain, count)) for domain, count in per_domain.items())
    return min(total, recipe.limits.max_questions or total)


def make_backend(spec: TeacherSpec, metrics: Metrics) -> Backend:
    if spec.backend == "vllm":
        from engine.backends.vllm_inproc import VLLMBackend

        return VLLMBackend(spec, metrics)
    if spec.base_urls or spec.server_metrics != "none":
        from engine.backends.replicas import ReplicaSet

        return ReplicaSet(spec, metrics)
    from engine.backends.openai_http import OpenAIBackend

    return OpenAIBackend(spec, metrics)


@contextlib.asynccontextmanager
async def mock_teacher_for(recipe: Recipe) -> AsyncIterator[Recipe]:
    """Start the mock teacher the recipe asks for (a subprocess); yield the recipe pointed at it."""
    spec = recipe.mock_teacher
    if spec is None:
        yield recipe
        return
    with tempfile.TemporaryDirectory(prefix="thoughtmill-mock-") as tmp:
        args = [
            "--port", "0",
            "--correct-rate", str(spec.correct_rate),
            "--latency-ms", str(spec.latency_ms),
            "--tokens-per-s", str(spec.tokens_per_s),
        ]  # fmt: skip
        if spec.answer_key:
            key = Path(tmp) / "answer_key.jsonl"
            with key.open("wb") as f:
                for q in questions(recipe):
                    if q.answer is not None:
                        f.write(msgspec.json.encode({"problem": q.problem, "answer": q.answer}))
                        f.write(b"\n")
            args += ["--answer-key", str(key)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "mock-teacher", *args,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            if "http://" not in line:
                raise RuntimeError(f"mock teacher did not start: {line!r}")
            url = line[line.index("http://") :].strip()
            teacher = msgspec.structs.replace(recipe.teacher, base_url=url)
            yield msgspec.structs.replace(recipe, teacher=teacher)
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()


class Job:
    """One run of a recipe into its output directory.

    Without scoring or selection: source -> filter -> plan -> generate -> verify -> write.
    With them, first curation (source -> filter -> score -> scored shards), then the top-N
    barrier (persisted selection), then sampling over the selection.
    """

    def __init__(self, recipe: Recipe, *, allow_recipe_change: bool = False):
        self.recipe = recipe
        self.allow_recipe_change = allow_recipe_change
        self.metrics = Metrics()
        self.funnel = Funnel()
        self.recipe_hash = recipe.sample_hash()
        self.output = OutputDir(Path(recipe.output.dir), recipe.job.name, recipe.job.worker)
        self.pipeline: Pipeline | None = None
        self.signals = 0
        self.forced = False
        self.complete = False

    @property
    def stopped(self) -> bool:
        return self.signals > 0

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
        metrics = self.metrics
        async with contextlib.AsyncExitStack() as stack:
            recipe = await stack.enter_async_context(mock_teacher_for(self.recipe))
            backend = make_backend(recipe.teacher, metrics)  # fails fast, before any output
            scorer = make_backend(recipe.scorer, metrics) if recipe.scorer else None
            n = recipe.sampling.n
            scope = f"{self.recipe_hash}:{recipe.curation_hash()}:{n}"
            done = self.output.open(
                self.recipe_hash,
                msgspec.to_builtins(self.recipe),
                self.allow_recipe_change,
                scope,
                n,
            )
            exclusions = Exclusions(self.output.stream("excluded"), recipe.output, self.funnel)
            tracker = Tracker(metrics)
            writer = self.output.samples.writer(recipe.output, scope, tracker.is_open)
            tracker.on_complete = writer.completed
            samples = RecordSink(writer)
            counting = asyncio.ensure_future(self._count_questions())
            stack.push_async_callback(self._finish, samples, exclusions, tracker, counting)
            metrics.state = "running"
            filters = self._filters(exclusions)
            if recipe.scorer is not None or recipe.select is not None:
                selected = await self._curate(stack, recipe, scorer, filters, exclusions)
                if selected is None:
                    return self._exit_code()
                source, filters = selected, []
            else:
                source = self._counted(questions(recipe))
            await backend.start()
            stack.push_async_callback(backend.close)
            verify = await stack.enter_async_context(VerifyStage(recipe.verify, metrics))
            stages = [
                *filters,
                PlanStage(recipe, done, tracker),
                GenerateStage(recipe, backend, self.recipe_hash, metrics, verify.label),
                verify,
                WriteStage(samples, tracker, metrics),
            ]
            await self._run(source, stages, [samples, exclusions.sink])
            self.complete = not tracker.pending
        return self._exit_code()

    def _exit_code(self) -> int:
        return Exit.FORCED if self.forced else Exit.OK

    def _filters(self, exclusions: Exclusions) -> list[FilterStage]:
        recipe = self.recipe
        if recipe.decont is None and recipe.dedup is None:
            return []
        decont = Decontaminator(recipe.decont) if recipe.decont else None
        dedup = Dedup(recipe.dedup) if recipe.dedup else None
        return [FilterStage(decont, dedup, exclusions, self.funnel)]

    async def _curate(
        self,
        stack: contextlib.AsyncExitStack,
        recipe: Recipe,
        scorer: Backend | None,
        filters: list[FilterStage],
        exclusions: Exclusions,
    ) -> Iterator[Question] | None:
        """Curation and the top-N barrier; the persisted selection, or None when stopped."""
        name = f"{recipe.job.name}_selection-{recipe.curation_hash()}.jsonl.zst"
        path = self.output.directory / name
        if (selection := load_selection(path)) is not None:
            return selection
        scored_stream = self.output.stream("scored")
        handled = known_ids(scored_stream) | exclusions.written
        scored = RecordSink(scored_stream.writer(recipe.output))
        stages: list[Stage] = [*filters, SkipHandled(handled, self.funnel)]
        if recipe.scorer is not None and scorer is not None:
            await scorer.start()
            stack.push_async_callback(scorer.close)
            stages += scoring_stages(recipe.scorer, scorer, exclusions.on_unscored)
        stages.append(ScoredSink(scored, self.funnel))
        try:
            await self._run(self._counted(questions(recipe)), stages, [scored, exclusions.sink])
        finally:
            await scored.close()
        if self.stopped:
            return None
        top = TopN(recipe.select or SelectSpec())
        await select_top(scored_questions(scored_stream), top, path, exclusions, recipe.output)
        return load_selection(path)

    def _counted(self, source: Iterator[Question]) -> Iterator[Question]:
        for question in source:
            self.funnel.count("read", question.domain, question.source)
            yield question

    async def _run(self, source: Any, stages: list[Stage], sinks: list[RecordSink]) -> None:
        """Run one pipeline while its sinks flush on a timer; a forced stop is not an error."""
        self.pipeline = Pipeline(source, stages, self.recipe.limits.queue_size)
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
        self,
        samples: RecordSink,
        exclusions: Exclusions,
        tracker: Tracker,
        counting: asyncio.Future[None],
    ) -> None:
        """Seal every open shard and record the outcome in the manifest."""
        counting.cancel()
        await exclusions.sink.close()
        await samples.close()
        for _, index in samples.writer.closed_shards:
            self.output.samples.add_closed(index)
        for outcome, count in self.output.samples.outcomes.items():
            domain, _, label = outcome.partition(":")
            self.funnel.count("sample", domain, label, count)
        finished = self.complete and not self.stopped
        self.metrics.state = "finished" if finished else "interrupted"
        self.output.write_manifest(self.metrics.state, self.funnel.as_dict())

    async def _count_questions(self) -> None:
        """Total for progress and ETA: counted in a thread from local sources (not the hub)."""
        if any(spec.hf for spec in self.recipe.sources):
            self.metrics.questions_total = self.recipe.limits.max_questions or None
            return
        self.metrics.questions_total = await asyncio.to_thread(question_count, self.recipe)


def install_signal_handlers(job: Job) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, job.on_signal)
