"""``run --ray``: N partition workers as Ray actors under one driver.

Each worker is an async actor (its own process and event loop, backend connections and
verifier pools; ``num_cpus=0`` so workers are bound by the teacher, not by cores) running one
partition's Job. A worker that dies is restarted by Ray and its partition run again: the
partition lock of the dead process is gone with it, and the partition resumes exactly once from
its shards. The driver sums the workers' counters into its own Metrics every POLL_S (progress,
/status, /metrics), holds the global rate limiter (engine.distributed.limiter) and spreads the
teacher's ``base_urls`` over the workers. Ray's actors fate-share with their driver: a driver
killed outright takes its workers with it, and a rerun resumes every partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import msgspec

from engine.config import Recipe
from engine.distributed.aggregate import Counters, banked, counters_of, set_sum
from engine.distributed.partition import Partition
from engine.exits import Exit
from engine.metrics import Metrics

log = logging.getLogger(__name__)

POLL_S = 0.5
MAX_RESTARTS = 5  # per worker; a worker that keeps dying fails its partition


class Outcome(msgspec.Struct):
    """How a partition's run ended: its exit code, the one-line error or failure, its
    summary counts."""

    code: int
    message: str | None = None
    records: int = 0


class PartitionWorker:
    """One partition's Job inside a Ray actor (an async actor: every method a coroutine)."""

    def __init__(self, recipe: Recipe, partition: Partition, allow_change: bool, budget: Any):
        if budget is not None:
            from engine.distributed.limiter import lease_from

            lease_from(budget, partition.count)
        from engine.job import Job

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        self.job = Job(recipe, allow_recipe_change=allow_change, partition=partition)

    async def run(self) -> Outcome:
        from engine.cli import explain

        try:
            code = await self.job.run()
        except Exception as error:  # the CLI's mapping: one line and its exit code
            code, message = explain(error)
            return Outcome(code, message)
        return Outcome(code, self.job.failure, self.job.output.samples.records)

    async def counters(self) -> Counters:
        return counters_of(self.job.metrics)

    async def stop(self) -> None:
        self.job.on_signal()

    async def pid(self) -> int:
        return os.getpid()


def spread(recipe: Recipe, index: int, workers: int) -> Recipe:
    """Worker ``index``'s recipe: its share of the teacher's ``base_urls`` replicas (every
    ``workers``-th from its index; one, round robin, when there are fewer than workers)."""
    urls = recipe.teacher.base_urls
    if not urls:
        return recipe
    mine = urls[index::workers] or [urls[index % len(urls)]]
    teacher = msgspec.structs.replace(recipe.teacher, base_urls=mine)
    return msgspec.structs.replace(recipe, teacher=teacher)


class RayJob:
    """A job as ``workers`` partitions on Ray (``address``: a cluster's, or None for a local
    one started here); ``metrics`` sums the workers' live counters."""

    def __init__(self, recipe: Recipe, workers: int, address: str | None, allow_change: bool):
        self.recipe = recipe
        self.workers = workers
        self.address = address
        self.allow_change = allow_change
        self.metrics = Metrics()
        self.outcomes: dict[int, Outcome] = {}
        self.restarts = [0] * workers
        self.signals = 0
        self.failure: str | None = None
        self._actors: list[Any] = []
        self._last: list[Counters | None] = [None] * workers
        self._banked: list[Counters] = []  # the counters of workers that died

    def on_signal(self) -> None:
        """Passed on to every worker: the first drains, the second abandons in-flight work."""
        self.signals += 1
        self.metrics.state = "stopping"
        for actor in self._actors:
            actor.stop.remote()

    async def run(self) -> int:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=True)
        teacher = self.recipe.teacher
        budget = None
        if teacher.rpm or teacher.tpm:
            from engine.distributed.limiter import GlobalBudget

            budget = ray.remote(num_cpus=0)(GlobalBudget).remote(teacher.rpm, teacher.tpm)
        self.budget = budget
        remote = ray.remote(num_cpus=0, max_restarts=MAX_RESTARTS)(PartitionWorker)
        self._actors = [
            remote.remote(
                spread(self.recipe, i, self.workers),
                Partition(i, self.workers),
                self.allow_change,
                budget,
            )
            for i in range(self.workers)
        ]
        self.metrics.state = "running"
        poller = asyncio.ensure_future(self._poll())
        try:
            await asyncio.gather(*(self._partition(i) for i in range(self.workers)))
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await self._collect()
        return self._exit_code()

    async def _partition(self, index: int) -> None:
        """Run partition ``index`` to its end, again on the restarted worker after a death."""
        import ray

        actor = self._actors[index]
        try:
            pid = await self._alive(actor)
            while True:
                try:
                    self.outcomes[index] = await actor.run.remote()
                    return
                except ray.exceptions.ActorDiedError:
                    raise
                except ray.exceptions.RayActorError:  # gone for now: Ray restarts it
                    pass
                if (new := await self._alive(actor)) != pid:
                    pid = new
                    self._restarted(index, pid)
        except ray.exceptions.ActorDiedError as error:  # restarted MAX_RESTARTS times, or broken
            self.outcomes[index] = Outcome(Exit.FAILED, f"its worker died: {error}")

    def _restarted(self, index: int, pid: int) -> None:
        self.restarts[index] += 1
        log.warning("partition %d: its worker died; restarted as pid %d", index, pid)

    @staticmethod
    async def _alive(actor: Any) -> int:
        """The worker's pid once it answers (while Ray restarts it, it does not)."""
        import ray

        while True:
            try:
                return await actor.pid.remote()
            except ray.exceptions.ActorUnavailableError:
                await asyncio.sleep(POLL_S / 5)

    async def _poll(self) -> None:
        while True:
            await self._collect()
            await asyncio.sleep(POLL_S)

    async def _collect(self) -> None:
        """The workers' counters now (a worker that does not answer keeps its last)."""
        import ray

        for index, actor in enumerate(self._actors):
            with contextlib.suppress(ray.exceptions.RayError, asyncio.TimeoutError):
                now = await asyncio.wait_for(actor.counters.remote(), POLL_S * 4)
                last = self._last[index]
                if last is not None and last.pid != now.pid:  # what the dead worker did
                    self._banked.append(banked(last))
                self._last[index] = now
        live = [c for c in self._last if c is not None]
        states = sorted({c.state for c in live}) or [self.metrics.state]
        state = "stopping" if self.signals and "running" in states else "; ".join(states)
        set_sum(self.metrics, live + self._banked, state)

    def _exit_code(self) -> int:
        codes = [outcome.code for outcome in self.outcomes.values()]
        failed = [f"partition {i}: {o.message}" for i, o in sorted(self.outcomes.items()) if o.code]
        self.failure = "; ".join(failed) or None
        return max(codes, default=Exit.FAILED)

    def summary(self) -> str:
        s = self.metrics.snapshot()
        lines = [
            f"{self.workers} workers on Ray: {s.samples_written} samples written this run "
            f"({s.samples_skipped_resume} already present), {s.questions_done} questions done, "
            f"{sum(self.restarts)} worker restarts",
            f"requests {s.requests}  retries {s.retries}  429s {s.rate_limited}",
        ]
        for index, outcome in sorted(self.outcomes.items()):
            said = f": {outcome.message}" if outcome.message else ""
            lines.append(
                f"partition {index}/{self.workers}: exit {outcome.code}, "
                f"{outcome.records} records, {self.restarts[index]} restarts{said}"
            )
        return "\n".join(lines)
