"""Warm pool of runners: leases, batches that compile once, self-healing, one retry on loss."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from sandbox.docker import DockerBackend, engine_version
from sandbox.languages import Language, get_language
from sandbox.local import LocalBackend
from sandbox.models import BackendChoice, BatchResult, Limits, MiB, Program, RunResult
from sandbox.worker import Worker, WorkerLost

log = logging.getLogger(__name__)

COMPILE_MEMORY_BYTES = 2048 * MiB
COMPILE_FILE_BYTES = 256 * MiB
COMPILE_STDOUT_BYTES = 64 * 1024
RESTART_DELAYS_S = (0.5, 1, 2, 5, 10)
#: with no runner left, jobs fail (infra_error) once this many starts in a row have failed
FAILED_STARTS_BEFORE_GIVING_UP = 3

StopWhen = Callable[[int, RunResult], bool]


@dataclasses.dataclass(frozen=True)
class _BatchJob:
    language: Language
    source: bytes
    inputs: list[bytes]
    limits: Limits
    stop_when: StopWhen | None
    total_wall_s: float | None

    def wall(self, spent: float) -> float:
        """Wall-time limit of the next run: the per-run limit, cut to what the budget has left."""
        if self.total_wall_s is None:
            return self.limits.wall
        return min(self.limits.wall, self.total_wall_s - spent)


@dataclasses.dataclass(frozen=True)
class _NoRunner:
    """Queued in place of a runner when none is left and none can start."""

    reason: str


class Backend(Protocol):
    name: str
    isolated: bool  # programs cannot reach this machine's files, network or other jobs

    async def prepare(self) -> None: ...
    async def start_worker(self) -> Worker: ...
    async def stop_worker(self, worker: Worker) -> None: ...


class Pool:
    """``size`` warm runners. Each job leases one; a runner that dies, hangs or cannot clean up
    after a job is replaced in the background, and a job lost with it is retried once elsewhere
    before it is reported as ``infra_error``.

    Once open, ``choice`` says which backend runs the programs and why, and ``running`` counts
    the runners leased to jobs at this moment (their programs sent).
    """

    def __init__(
        self,
        backend: str | Backend = "auto",
        size: int | None = None,
        *,
        answer_grace_s: float = 5.0,
        **backend_options,
    ) -> None:
        self.size = size if size is not None else os.cpu_count() or 1
        if self.size < 1:
            raise ValueError(f"pool size must be at least 1, got {self.size}")
        self.answer_grace_s = answer_grace_s
        self._backend_choice = backend
        self._backend_options = backend_options
        self.backend: Backend | None = None
        self.choice: BackendChoice | None = None
        self.replaced = 0
        self.running = 0
        self._idle: asyncio.Queue[Worker | _NoRunner] = asyncio.Queue()
        self._start_failures = 0
        self._workers: set[Worker] = set()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    # -- lifecycle

    async def __aenter__(self) -> Pool:
        self.backend, reason = await choose_backend(self._backend_choice, **self._backend_options)
        requested = self._backend_choice
        self.choice = BackendChoice(
            requested if isinstance(requested, str) else self.backend.name,
            self.backend.name,
            self.backend.isolated,
            reason,
        )
        log.info("sandbox backend %s (%s)", self.choice.backend, reason)
        await self.backend.prepare()
        started = await asyncio.gather(
            *(self.backend.start_worker() for _ in range(self.size)), return_exceptions=True
        )
        for worker in started:
            if isinstance(worker, Worker):
                self._adopt(worker)
        failures = [error for error in started if not isinstance(error, Worker)]
        if failures:
            await self.close()
            raise RuntimeError(f"could not start the sandbox pool: {failures[0]}") from failures[0]
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.backend is not None:
            await asyncio.gather(*(self.backend.stop_worker(w) for w in self._workers))
        self._workers.clear()

    def worker_names(self) -> list[str]:
        return sorted(worker.name for worker in self._workers)

    # -- running

    async def run(
        self, program: Program, stdin: str | bytes = "", limits: Limits | None = None
    ) -> RunResult:
        """Compile (or syntax-check) and run once; a failed compilation is the result."""
        batch = await self.run_batch(program, [stdin], limits)
        return batch.runs[0] if batch.runs else batch.compile

    async def run_batch(
        self,
        program: Program,
        inputs: Sequence[str | bytes],
        limits: Limits | None = None,
        *,
        stop_when: StopWhen | None = None,
        total_wall_s: float | None = None,
    ) -> BatchResult:
        """Compile once, then run each input in order on the same runner.

        stop_when(index, result) -> True ends the batch early (e.g. at the first wrong answer);
        total_wall_s is a time budget for all runs together (the per-program limit).
        """
        if total_wall_s is not None and total_wall_s <= 0:
            raise ValueError(f"total_wall_s must be positive, got {total_wall_s!r}")
        job = _BatchJob(
            get_language(program.language),
            program.source.encode(),
            [stdin.encode() if isinstance(stdin, str) else stdin for stdin in inputs],
            limits or Limits(),
            stop_when,
            total_wall_s,
        )
        lost: WorkerLost | None = None
        for _attempt in range(2):
            out = BatchResult(compile=RunResult(status="infra_error"), runs=[])
            try:
                await self._attempt(job, out, retry=lost is not None)
                return out
            except WorkerLost as error:
                log.warning(
                    "sandbox job lost (%s): %s", "retry" if lost is None else "final", error
                )
                lost = error
        infra = RunResult(status="infra_error", detail=f"sandbox lost the job twice: {lost}")
        if out.compile.ok:
            out.runs.append(infra)
        else:
            out.compile = infra
        return out

    async def _attempt(self, job: _BatchJob, out: BatchResult, retry: bool) -> None:
        """One try at a batch on one leased runner, filling ``out`` as results come. The first
        run travels right behind the compilation (the runner skips it if that fails). A retry
        takes a runner that answers a ping: what lost the job may have taken others with it
        (all containers killed at once) before the pool has noticed."""
        limits = job.limits
        prepare = {"op": "prepare", "language": _language_header(job.language)}
        prepare["limits"] = _compile_limits(limits)
        async with self._lease(answering=retry) as worker:
            wall = job.wall(spent=0.0)
            frames = [(prepare, [job.source])]
            frames += [_run_frame(limits, wall, stdin) for stdin in job.inputs[:1]]
            out.compile, *first = await self._call(worker, frames, limits.compile_s + wall)
            if first and first[0].status == "compile_error" and out.compile.ok:
                out.compile = first[0]  # Python finds its syntax errors when it runs
            if not out.compile.ok:
                out.compile.status = "compile_error"
                return
            spent = 0.0
            for index, stdin in enumerate(job.inputs):
                if index == 0:
                    result = first[0]
                else:
                    wall = job.wall(spent)
                    if wall <= 0:
                        out.runs.append(_budget_exhausted(job.total_wall_s))
                        return
                    [result] = await self._call(worker, [_run_frame(limits, wall, stdin)], wall)
                if result.status == "timeout" and wall < limits.wall:
                    result.detail = _budget_exhausted(job.total_wall_s).detail
                spent += result.wall_s
                out.runs.append(result)
                if job.stop_when is not None and job.stop_when(index, result):
                    return

    async def _call(self, worker: Worker, frames: list, seconds: float) -> list[RunResult]:
        """Results of frames sent back to back to one runner."""
        answers = await worker.call_many(frames, seconds + self.answer_grace_s)
        results = []
        for answer, (stdout, stderr) in answers:
            answer.pop("tainted", None)
            answer.update(stdout=stdout.decode(errors="replace"), worker=worker.name)
            results.append(RunResult(**answer, stderr=stderr.decode(errors="replace")))
        return results

    @contextlib.asynccontextmanager
    async def _lease(self, answering: bool = False) -> AsyncIterator[Worker]:
        """The next free runner, however long the queue (with ``answering``, the next that
        answers a ping); fails only when the pool has no runner left and cannot start one
        (then every waiter fails, until a start succeeds)."""
        if self._closed or self.backend is None:
            raise RuntimeError("the sandbox pool is not open: use `async with open_pool() as pool`")
        while True:
            worker = await self._idle.get()
            if isinstance(worker, _NoRunner):
                if self._workers:
                    continue  # healed since: drop the notice
                self._idle.put_nowait(worker)  # for the next waiter
                raise WorkerLost(f"no sandbox runner can be started: {worker.reason}")
            if worker.alive and (not answering or await self._answers(worker)):
                break
            self._spawn(self._replace(worker))  # died while idle
        self.running += 1
        try:
            yield worker
        finally:
            self.running -= 1
            if worker.alive and not worker.tainted:
                self._idle.put_nowait(worker)
            else:
                self._spawn(self._replace(worker))

    async def _answers(self, worker: Worker) -> bool:
        try:
            await worker.call({"op": "ping"}, (), self.answer_grace_s)
        except WorkerLost:
            return False  # call() marked it dead
        return True

    # -- healing

    def _adopt(self, worker: Worker) -> None:
        self._workers.add(worker)
        self._idle.put_nowait(worker)
        self._spawn(self._watch(worker))

    async def _watch(self, worker: Worker) -> None:
        """Replace a runner as soon as its process ends, even while it sits idle."""
        await worker.process.wait()
        worker.alive = False
        if not self._closed:
            self._spawn(self._replace(worker))

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, broken: Worker) -> None:
        if broken not in self._workers:
            return  # already being replaced
        self._workers.discard(broken)
        self.replaced += 1
        log.warning("replacing sandbox runner %s: %s", broken.name, broken.last_words())
        await self.backend.stop_worker(broken)
        while not self._closed:
            try:
                self._adopt(await self.backend.start_worker())
                self._start_failures = 0
                return
            except Exception as error:  # keep trying: the pool must heal by itself
                log.warning("could not start a sandbox runner: %s", error)
                self._start_failures += 1
                if not self._workers and self._start_failures == FAILED_STARTS_BEFORE_GIVING_UP:
                    self._idle.put_nowait(_NoRunner(str(error)))
                delays = RESTART_DELAYS_S
                await asyncio.sleep(delays[min(self._start_failures, len(delays)) - 1])


async def choose_backend(choice: str | Backend, **options) -> tuple[Backend, str]:
    """The backend and why: ``docker``, ``local``, a Backend object, or ``auto``: Docker where
    an engine answers, otherwise local (which warns loudly that isolation is weaker)."""
    if not isinstance(choice, str):
        return choice, "given as a backend object"
    reason = f"asked for {choice!r}"
    if choice == "auto":
        version = await engine_version()
        choice = "docker" if version is not None else "local"
        reason = (
            f"auto: Docker engine {version} answers"
            if version is not None
            else "auto: no Docker engine answers `docker info`"
        )
    if choice == "docker":
        return DockerBackend(**options), reason
    if choice == "local":
        return LocalBackend(**options), reason
    raise ValueError(f"unknown sandbox backend {choice!r}; use 'auto', 'docker' or 'local'")


def _language_header(language: Language) -> dict:
    return {
        "source_name": language.source_name,
        "compile": list(language.compile),
        "run": list(language.run),
        "artifact": language.artifact,
    }


def _run_frame(limits: Limits, wall: float, stdin: bytes) -> tuple[dict, list[bytes]]:
    return {"op": "run", "limits": _run_limits(limits, wall)}, [stdin]


def _run_limits(limits: Limits, wall: float) -> dict:
    return {
        "cpu_s": limits.time_s,
        "wall_s": wall,
        "memory_bytes": limits.memory_mb * MiB,
        "output_bytes": limits.output_bytes,
        "file_bytes": limits.output_bytes + 1,
        "stderr_bytes": limits.stderr_bytes,
        "processes": limits.processes,
    }


def _compile_limits(limits: Limits) -> dict:
    return {
        "cpu_s": limits.compile_s,
        "wall_s": limits.compile_s,
        "memory_bytes": max(COMPILE_MEMORY_BYTES, limits.memory_mb * MiB),
        "output_bytes": COMPILE_STDOUT_BYTES,
        "file_bytes": COMPILE_FILE_BYTES,
        "stderr_bytes": limits.stderr_bytes,
        "stderr_keep": "head",
        "processes": max(limits.processes, 16),
    }


def _budget_exhausted(total_wall_s: float | None) -> RunResult:
    return RunResult(status="timeout", detail=f"program time limit of {total_wall_s:g} s used up")


def open_pool(backend: str | Backend = "auto", size: int | None = None, **options) -> Pool:
    """A warm sandbox pool to use as ``async with open_pool() as pool``; see :class:`Pool`."""
    return Pool(backend, size, **options)
