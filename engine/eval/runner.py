"""Run a suite: freeze each benchmark's questions, then one engine Job per benchmark (its own
output subdirectory, so manifests, the recipe-change check and resume are per benchmark), all
against one model endpoint started once for the suite (a ``--serve`` server, the
``[mock_teacher]`` keyed by every benchmark's frozen questions); then results and the report
from the output alone."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from engine.config import Recipe, recipe_from_dict
from engine.errors import ConfigError
from engine.eval.manifest import EvalManifest, read_manifest, write_manifest
from engine.eval.prepare import data_hash, job_source, load_questions, prepare
from engine.eval.serve import served_model
from engine.eval.suite import BenchmarkSpec, Suite
from engine.exits import Exit
from engine.job import Job
from engine.records import Question
from engine.specs import TeacherSpec
from engine.storage.output import RecipeChanged

if TYPE_CHECKING:
    from engine.backends.vllm_inproc import VLLMBackend

SERVER_LOG = "server.log"


def benchmark_recipe(
    suite: Suite, benchmark: BenchmarkSpec, teacher: TeacherSpec, directory: Path
) -> Recipe:
    """The engine recipe of one benchmark: its frozen questions, prompt, n and sampling; answers
    kept when truncated (marked, and scored as the model wrote them)."""
    sampling = suite.sampling_of(benchmark)
    data = {
        "job": {"name": benchmark.name, "seed": sampling.seed},
        "sources": [job_source(benchmark, directory)],
        "prompt": benchmark.prompt,
        "teacher": teacher,
        "sampling": {
            "n": benchmark.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "on_truncation": "keep",
        },
        "verify": suite.verify,
        "output": msgspec.structs.replace(suite.output, dir=str(directory)),
    }
    return recipe_from_dict(msgspec.to_builtins(data), f"{suite.name}/{benchmark.name}")


def _teacher(suite: Suite) -> TeacherSpec:
    """The backend under test, unless a server is started for it: ``[model]`` (its name may
    come from --model), or the mock teacher's."""
    model = suite.model.model or ("mock" if suite.mock_teacher is not None else "")
    if not model:
        raise ConfigError(
            "model.model: no model under test; set it in [model], or pass --model (with "
            "--base-url) or --serve CHECKPOINT"
        )
    return TeacherSpec(**msgspec.structs.asdict(msgspec.structs.replace(suite.model, model=model)))


class EvalRun:
    """One eval into ``directory``; ``current`` is the benchmark running and its Job."""

    def __init__(self, suite: Suite, directory: Path, *, allow_recipe_change: bool = False):
        self.suite = suite
        self.directory = directory
        self.allow_recipe_change = allow_recipe_change
        self.checkpoint = suite.serve.checkpoint if suite.serve else None
        self.teacher = None if self.checkpoint else _teacher(suite)
        self.current: tuple[int, BenchmarkSpec, Job] | None = None
        self.signals = 0
        self.completed: list[str] = []
        self._task: asyncio.Task | None = None

    def on_signal(self) -> None:
        """Forward a stop to the running Job (first: drain, second: abandon); none starts after."""
        self.signals += 1
        if self.current is not None:
            self.current[2].on_signal()
        elif self._task is not None:
            self._task.cancel()  # e.g. waiting for the model server: nothing to drain

    async def run(self) -> int:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.on_signal)
        try:
            return await self._run()
        except asyncio.CancelledError:
            if not self.signals:
                raise
            return Exit.OK
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _run(self) -> int:
        manifest = self._open()
        async with self._model() as teacher, self._shared_backend(teacher) as backend:
            manifest.model = msgspec.to_builtins(teacher)
            manifest = write_manifest(self.directory, manifest, "running")
            for position, benchmark in enumerate(self.suite.benchmarks):
                if self.signals:
                    break
                directory = self.directory / benchmark.name
                recipe = benchmark_recipe(self.suite, benchmark, teacher, directory)
                job = Job(recipe, allow_recipe_change=self.allow_recipe_change, teacher=backend)
                if backend is not None:
                    backend.metrics = job.metrics  # the running benchmark counts its requests
                self.current = (position, benchmark, job)
                try:
                    code = await job.run()
                finally:
                    self.current = None
                if code != Exit.OK:
                    write_manifest(self.directory, manifest, "interrupted")
                    return code
                if not job.stopped:
                    self.completed.append(benchmark.name)
        write_manifest(self.directory, manifest, "finished" if self.finished else "interrupted")
        return Exit.OK

    def _questions(self) -> Iterator[Question]:
        """Every benchmark's frozen questions (the mock's answer key: golds, options and
        reference programs)."""
        for benchmark in self.suite.benchmarks:
            yield from load_questions(benchmark.name, self.directory / benchmark.name)

    @property
    def finished(self) -> bool:
        return len(self.completed) == len(self.suite.benchmarks)

    def _open(self) -> EvalManifest:
        """Freeze every benchmark's questions (once: a rerun reuses them); refuse data that
        changed since, unless recipe changes are allowed."""
        self.directory.mkdir(parents=True, exist_ok=True)
        previous = read_manifest(self.directory)
        prepared = dict(previous.prepared) if previous else {}
        for benchmark in self.suite.benchmarks:
            frozen = prepared.get(benchmark.name)
            if frozen is not None and frozen.data_hash == data_hash(benchmark):
                continue
            if frozen is not None and not self.allow_recipe_change:
                raise RecipeChanged(
                    f"{self.directory / benchmark.name}: its questions were read from other data "
                    "(benchmarks.data changed); pass --allow-recipe-change to evaluate the new data"
                )
            prepared[benchmark.name] = prepare(benchmark, self.directory / benchmark.name)
        manifest = EvalManifest(
            suite=msgspec.to_builtins(self.suite),
            prepared=prepared,
            checkpoint=self.checkpoint,
            created=previous.created if previous else 0.0,
        )
        return write_manifest(self.directory, manifest, "running")

    @contextlib.asynccontextmanager
    async def _model(self) -> AsyncIterator[TeacherSpec]:
        """The model endpoint: the suite's backend, the mock teacher, or a server started on
        the checkpoint."""
        if self.checkpoint is None:
            assert self.teacher is not None
            if self.suite.mock_teacher is None:
                yield self.teacher
                return
            from engine.testing.process import mock_teacher_process

            async with mock_teacher_process(self.suite.mock_teacher, self._questions()) as url:
                yield msgspec.structs.replace(
                    self.teacher, backend="openai", base_url=url, base_urls=[]
                )
            return
        assert self.suite.serve is not None
        log = self.directory / SERVER_LOG
        async with served_model(self.suite.serve, self.checkpoint, log) as url:
            fields = msgspec.structs.asdict(self.suite.model)
            fields.update(model=self.checkpoint, backend="openai", base_url=url, base_urls=[])
            yield TeacherSpec(**fields)

    @contextlib.asynccontextmanager
    async def _shared_backend(self, teacher: TeacherSpec) -> AsyncIterator[VLLMBackend | None]:
        """In-process vLLM, started once for the suite: every benchmark's Job uses it, so the
        model loads once. HTTP backends are cheap to make: each Job makes its own (None)."""
        if teacher.backend != "vllm":
            yield None
            return
        from engine.backends.vllm_inproc import VLLMBackend

        backend = VLLMBackend(teacher)
        await backend.start()
        try:
            yield backend
        finally:
            await backend.close()
