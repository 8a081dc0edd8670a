"""A generation job: sources -> plan -> generate -> verify -> write, with resume and signals."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec

from engine.backends.base import Backend
from engine.config import Recipe, TeacherSpec
from engine.generate.stages import GenerateStage, PlanStage, Tracker
from engine.metrics import Metrics
from engine.pipeline import Pipeline
from engine.records import Question
from engine.sources import Source
from engine.storage.output import OutputDir
from engine.storage.shards import ShardWriter
from engine.storage.sink import WriteStage
from engine.verification import VerifyStage

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RECIPE_CHANGED = 3
EXIT_OUTPUT_ERROR = 4
EXIT_FORCED = 130


def questions(recipe: Recipe) -> Iterator[Question]:
    """The recipe's questions, source after source, streamed; capped by limits.max_questions."""
    stream = itertools.chain.from_iterable(Source(spec) for spec in recipe.sources)
    return itertools.islice(stream, recipe.limits.max_questions or None)


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
    """One run of a recipe into its output directory."""

    def __init__(self, recipe: Recipe, *, allow_recipe_change: bool = False):
        self.recipe = recipe
        self.allow_recipe_change = allow_recipe_change
        self.metrics = Metrics()
        self.recipe_hash = recipe.sample_hash()
        self.output = OutputDir(Path(recipe.output.dir), recipe.job.name, recipe.job.worker)
        self.pipeline: Pipeline | None = None
        self.signals = 0
        self.forced = False

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
        recipe, metrics = self.recipe, self.metrics
        done = self.output.open(
            self.recipe_hash, msgspec.to_builtins(recipe), self.allow_recipe_change
        )
        counting = asyncio.ensure_future(self._count_questions())
        tracker = Tracker(metrics)
        writer = ShardWriter(
            self.output.directory, recipe.job.name, recipe.job.worker, recipe.output,
            self.output.next_seq,
        )  # fmt: skip
        sink = WriteStage(writer, tracker, metrics)
        async with contextlib.AsyncExitStack() as stack:
            recipe = await stack.enter_async_context(mock_teacher_for(recipe))
            backend = make_backend(recipe.teacher, metrics)
            await backend.start()
            stack.push_async_callback(backend.close)
            verify = await stack.enter_async_context(VerifyStage(recipe.verify, metrics))
            stages = [
                PlanStage(recipe, done, tracker),
                GenerateStage(recipe, backend, self.recipe_hash, metrics),
                verify,
                sink,
            ]
            self.pipeline = Pipeline(questions(recipe), stages, recipe.limits.queue_size)
            ticker = asyncio.ensure_future(sink.flush_every(recipe.output.flush_seconds))
            metrics.state = "running"
            try:
                await self.pipeline.run()
            except asyncio.CancelledError:
                if not self.forced:
                    raise
            finally:
                ticker.cancel()
                counting.cancel()
                await sink.close()
                for _, index in writer.closed_shards:
                    self.output.add_closed(index)
                finished = self.signals == 0 and not tracker.pending
                metrics.state = "finished" if finished else "interrupted"
                self.output.write_manifest(metrics.state)
        return EXIT_FORCED if self.forced else EXIT_OK


    async def _count_questions(self) -> None:
        """Total for progress and ETA: counted in a thread from local sources (not the hub)."""
        if any(spec.hf for spec in self.recipe.sources):
            self.metrics.questions_total = self.recipe.limits.max_questions or None
            return
        stop = threading.Event()

        def count() -> int | None:
            total = 0
            for _ in questions(self.recipe):
                if stop.is_set():
                    return None
                total += 1
            return total

        try:
            self.metrics.questions_total = await asyncio.to_thread(count)
        finally:
            stop.set()  # the job ended first: let the thread go


def install_signal_handlers(job: Job) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, job.on_signal)
