"""Math checks off the event loop: worker processes, one hard time budget per check.

``MathVerifierPool`` sends whole checks (extraction, fast paths, sympy: see
verifiers.math.grade) to worker processes and awaits their verdicts; the event loop only
frames bytes. Requests are pipelined: the checks submitted in one loop iteration go out as one
frame per worker, up to ``DEPTH`` queued in each, and a worker answers each check as soon as it
is done. So the pool knows which check a worker is running and since when:

- a check that runs past its budget is answered ``timeout`` and its worker is killed (SIGKILL)
  and replaced by a fork of a pre-imported template, in milliseconds;
- a check that runs longer than ``STALL_S`` gets its worker's queue moved to the other
  workers (the stalled worker is told to drop those), so a hostile check never holds up the
  easy ones queued behind it, and a stalled worker takes no new checks.

``verify`` is the synchronous form over a shared pool that runs its own event loop thread.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TypeVar

import msgspec

from verifiers.math.grade import clear_caches as _clear_grade_caches
from verifiers.math.worker import (
    READY,
    SOCKET_BUFFER_BYTES,
    SPAWN,
    Batch,
    Done,
    Job,
    frame,
    receive_worker,
    split_frames,
)
from verifiers.verdict import Verdict

__all__ = ["MathVerifierPool", "clear_caches", "default_workers", "verify"]

DEPTH = 64
STALL_S = 0.05
STARTUP_TIMEOUT_S = 60.0
T = TypeVar("T")
_decode_done = msgspec.msgpack.Decoder(Done).decode


def default_workers() -> int:
    """One worker per core this process may run on, and at least two: one hostile check
    then never holds up all the others."""
    return max(2, len(os.sched_getaffinity(0)))


class _Check:
    __slots__ = ("budget", "future", "job")

    def __init__(self, job: Job, budget: float, future: asyncio.Future[Verdict]):
        self.job = job
        self.budget = budget
        self.future = future


class _Worker(asyncio.Protocol):
    """The pool's end of one worker: its queue in send order, and when its head started."""

    def __init__(self, pool: MathVerifierPool, pid: int, pidfd: int):
        self.pool = pool
        self.pid = pid
        self.pidfd = pidfd
        self.transport: asyncio.Transport | None = None
        self.checks: OrderedDict[int, _Check] = OrderedDict()
        self.head_since = 0.0
        self.rescued = False  # the running check's queue was already moved away
        self.timer: asyncio.TimerHandle | None = None
        self.alive = True
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for payload in split_frames(self._buffer):
            self.pool._done(self, _decode_done(payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.alive:
            self.pool._lost(self)

    def head(self) -> _Check:
        return next(iter(self.checks.values()))

    def stalled(self, now: float) -> bool:
        return bool(self.checks) and now - self.head_since >= STALL_S

    def kill(self) -> None:
        self.alive = False
        if self.timer is not None:
            self.timer.cancel()
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        os.close(self.pidfd)
        if self.transport is not None:
            self.transport.abort()


class MathVerifierPool:
    """Asyncio math verification over ``workers`` processes (default: one per core).

    ``async with MathVerifierPool(workers, timeout) as pool: await pool.verify(response, gold)``

    Every check runs in a worker under ``timeout`` seconds (its budget starts when the worker
    starts it); past that it is ``timeout``. A worker that dies mid-check gives that check
    ``infra_error``; the checks queued behind it go to the other workers.
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0):
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers if workers is not None else default_workers()
        self.timeout = timeout
        self._ids = itertools.count()
        self._pending: deque[_Check] = deque()
        self._workers: list[_Worker] = []
        self._flush_scheduled = False
        self._closing = False
        self._broken = ""
        self._template: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._control_lock = asyncio.Lock()
        self._spawning: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> MathVerifierPool:
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def worker_pids(self) -> list[int]:
        """Pids of the live workers (for tests and diagnostics)."""
        return [worker.pid for worker in self._workers]

    async def verify(self, response: str, gold: str, *, timeout: float | None = None) -> Verdict:
        """The verdict of one check (raises ValueError when the gold holds no answer)."""
        return await self._submit(response, gold, timeout)

    async def verify_many(self, pairs: Iterable[tuple[str, str]]) -> list[Verdict]:
        """Verdicts for (response, gold) pairs, in order (they are checked in parallel)."""
        return list(await asyncio.gather(*(self._submit(r, g, None) for r, g in pairs)))

    def _submit(self, response: str, gold: str, timeout: float | None) -> asyncio.Future[Verdict]:
        if self._control is None or self._closing:
            raise RuntimeError("MathVerifierPool is not open: use 'async with'")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Verdict] = loop.create_future()
        if self._broken:
            future.set_result(Verdict("infra_error", detail=self._broken))
            return future
        job = Job(next(self._ids), response, gold)
        self._pending.append(_Check(job, timeout or self.timeout, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    async def close(self) -> None:
        """Kill the workers and the template; checks still waiting get ``infra_error``."""
        self._closing = True
        for task in self._spawning:
            task.cancel()
        for worker in list(self._workers):
            self._retire(worker)
        self._fail_pending("the math verifier pool closed")
        if self._control is not None:
            self._control.close()
        if self._template is not None:
            with contextlib.suppress(ProcessLookupError):
                self._template.kill()
            await asyncio.get_running_loop().run_in_executor(None, self._template.wait)

    # -- start-up ---------------------------------------------------------------------------
    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        with theirs:
            self._template = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "verifiers.math.worker",
                    str(os.getpid()),
                    str(theirs.fileno()),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONPATH=path),
            )
        ours.setblocking(False)
        self._control = ours
        ready = await asyncio.wait_for(loop.sock_recv(ours, 1), STARTUP_TIMEOUT_S)
        if ready != READY:
            raise ConnectionError("the math worker template did not start")
        for worker in await asyncio.gather(*(self._spawn() for _ in range(self.workers))):
            self._workers.append(worker)

    async def _spawn(self) -> _Worker:
        """A new worker forked from the template, connected and ready for checks."""
        loop = asyncio.get_running_loop()
        assert self._control is not None
        async with self._control_lock:
            await loop.sock_sendall(self._control, SPAWN)
            await _readable(loop, self._control)
            pid, channel = receive_worker(self._control)
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            channel.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        worker = _Worker(self, pid, os.pidfd_open(pid))
        await loop.connect_accepted_socket(lambda: worker, channel)
        return worker

    def _replace(self) -> None:
        async def replace() -> None:
            try:
                worker = await asyncio.wait_for(self._spawn(), STARTUP_TIMEOUT_S)
            except (OSError, ConnectionError, TimeoutError) as error:
                self._broken = f"math workers cannot be started: {error}"
                if not self._workers:
                    self._fail_pending(self._broken)
                return
            if self._closing:
                worker.kill()
                return
            self._workers.append(worker)
            self._flush()

        task = asyncio.get_running_loop().create_task(replace())
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    # -- dispatch ---------------------------------------------------------------------------
    def _flush(self) -> None:
        """Top up the queues of the workers that are not stalled and have room, least loaded
        first; a worker gets more only once it is down to half its depth (fewer, larger
        frames)."""
        self._flush_scheduled = False
        now = asyncio.get_running_loop().time()
        ready = [w for w in self._workers if len(w.checks) <= DEPTH // 2 and not w.stalled(now)]
        batches: dict[_Worker, list[Job]] = {}
        while self._pending and ready:
            worker = min(ready, key=lambda w: len(w.checks))
            if len(worker.checks) >= DEPTH:
                break
            check = self._pending.popleft()
            if check.future.done():
                continue  # the caller gave up waiting
            if not worker.checks:
                self._started(worker, now)
            worker.checks[check.job.id] = check
            batches.setdefault(worker, []).append(check.job)
        for worker, jobs in batches.items():
            assert worker.transport is not None
            worker.transport.write(frame(Batch(jobs=jobs)))

    def _started(self, worker: _Worker, now: float) -> None:
        """The worker's head check started now: watch it."""
        worker.head_since = now
        worker.rescued = False
        if worker.timer is None:
            worker.timer = asyncio.get_running_loop().call_at(now + STALL_S, self._watch, worker)

    def _done(self, worker: _Worker, done: Done) -> None:
        if not worker.checks:
            return
        was_head = next(iter(worker.checks)) == done.id
        check = worker.checks.pop(done.id, None)
        if check is None:
            return  # moved to another worker, which answers for it
        if was_head and worker.checks:
            self._started(worker, asyncio.get_running_loop().time())
        if not check.future.done():
            if done.bad_gold:
                check.future.set_exception(ValueError(done.bad_gold))
            else:
                check.future.set_result(done.verdict or Verdict("infra_error"))
        if self._pending and not self._flush_scheduled and len(worker.checks) <= DEPTH // 2:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _watch(self, worker: _Worker) -> None:
        """Timer on a worker's running check: move its queue when stalled, kill it when due."""
        worker.timer = None
        if not worker.alive or not worker.checks:
            return
        loop = asyncio.get_running_loop()
        head, elapsed = worker.head(), loop.time() - worker.head_since
        if elapsed >= head.budget:
            worker.checks.pop(head.job.id)
            detail = f"the check took longer than {head.budget:g}s; worker killed"
            _resolve(head, Verdict("timeout", detail=detail))
            self._retire(worker)
            return
        if elapsed >= STALL_S and not worker.rescued:
            self._rescue(worker)
        due = worker.head_since + (head.budget if elapsed >= STALL_S else STALL_S)
        worker.timer = loop.call_at(due, self._watch, worker)

    def _rescue(self, worker: _Worker) -> None:
        """Move the checks queued behind a stalled worker's running one to the others."""
        worker.rescued = True
        head = worker.head()
        moved = [check for check in worker.checks.values() if check is not head]
        if not moved:
            return
        for check in moved:
            del worker.checks[check.job.id]
        assert worker.transport is not None
        worker.transport.write(frame(Batch(cancel=[check.job.id for check in moved])))
        self._pending.extendleft(reversed(moved))
        self._flush()

    def _lost(self, worker: _Worker) -> None:
        """A worker died on its own (crash, OOM kill): its running check is infrastructure."""
        if worker.checks:
            head = worker.checks.pop(next(iter(worker.checks)))
            _resolve(head, Verdict("infra_error", detail="math worker exited mid-check"))
        self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        """Kill a worker, requeue its checks first in line, and start its replacement."""
        if worker in self._workers:
            self._workers.remove(worker)
        if worker.alive:
            worker.kill()
        self._pending.extendleft(reversed(worker.checks.values()))
        worker.checks.clear()
        if not self._closing:
            self._replace()
            self._flush()

    def _fail_pending(self, detail: str) -> None:
        while self._pending:
            _resolve(self._pending.popleft(), Verdict("infra_error", detail=detail))


def _resolve(check: _Check, verdict: Verdict) -> None:
    if not check.future.done():
        check.future.set_result(verdict)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready = loop.create_future()
    loop.add_reader(sock, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(sock)


class _SharedPool:
    """The pool behind the synchronous ``verify``: its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pool = MathVerifierPool()
        self.call(self.pool.__aenter__())

    def call(self, coroutine: Coroutine[object, object, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.call(self.pool.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


_shared: _SharedPool | None = None
_shared_lock = threading.Lock()


def _shared_pool() -> _SharedPool:
    global _shared
    with _shared_lock:
        if _shared is None or _shared.pid != os.getpid():
            _shared = _SharedPool()
        return _shared


@atexit.register
def _close_shared() -> None:
    global _shared
    with _shared_lock:
        if _shared is not None and _shared.pid == os.getpid():
            _shared.close()
        _shared = None


def verify(response: str, gold: str, *, timeout: float = 5.0) -> Verdict:
    """Check a response (a whole trace or a bare answer) against a gold answer or solution.

    The check runs in a shared pool of worker processes (one per core, started on first use)
    under ``timeout`` seconds. Raises ValueError when the gold holds no answer. Thread-safe.
    """
    shared = _shared_pool()
    return shared.call(shared.pool.verify(response, gold, timeout=timeout))


def clear_caches() -> None:
    """Forget every memo: this process's, and the shared pool's (its workers restart cold)."""
    _clear_grade_caches()
    _close_shared()
