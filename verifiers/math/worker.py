"""Worker processes for sympy, each job under a hard timeout.

A worker is ``python -m verifiers.math.worker``: it reads length-prefixed msgpack jobs on stdin
and answers on stdout. The parent waits for an answer with ``select``; when the time is up it
kills the worker (SIGKILL: sympy cannot hang past that) and starts a fresh one for the next job.
No signal.alarm is involved, so ``WorkerPool.run`` is safe from any thread.
"""

from __future__ import annotations

import functools
import os
import queue
import resource
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import msgspec

_HEADER = struct.Struct(">I")
_READY = b"ready"
_MEMORY_LIMIT_BYTES = 4 << 30
STARTUP_TIMEOUT = 60.0


class Check(msgspec.Struct, array_like=True):
    response: str
    gold: str


class Reply(msgspec.Struct, array_like=True):
    """result: True/False/None (undecided); error: 'memory_limit' or an exception line."""

    result: bool | None
    method: str = ""
    detail: str = ""
    error: str = ""


class WorkerTimeout(Exception):
    """The job ran past its time and the worker was killed."""


class WorkerFailed(Exception):
    """The worker died or answered garbage (an infrastructure failure, not an answer)."""


class _Worker:
    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "verifiers.math.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        if self._read(time.monotonic() + STARTUP_TIMEOUT) != _READY:
            self.kill()
            raise WorkerFailed("math worker did not start")

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(self, job: Check, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        payload = msgspec.msgpack.encode(job)
        try:
            self.process.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.process.stdin.flush()
        except OSError as error:
            self.kill()
            raise WorkerFailed(f"math worker pipe closed: {error}") from error
        try:
            return msgspec.msgpack.decode(self._read(deadline), type=Reply)
        except msgspec.DecodeError as error:
            self.kill()
            raise WorkerFailed(f"math worker sent a bad reply: {error}") from error

    def _read(self, deadline: float) -> bytes:
        header = self._read_exact(_HEADER.size, deadline)
        return self._read_exact(_HEADER.unpack(header)[0], deadline)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        chunks = bytearray()
        while len(chunks) < size:
            remaining = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
            if not ready:
                self.kill()
                raise WorkerTimeout
            chunk = os.read(fd, size - len(chunks))
            if not chunk:
                self.kill()
                raise WorkerFailed(f"math worker exited (code {self.process.poll()})")
            chunks += chunk
        return bytes(chunks)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            pipe.close()


class WorkerPool:
    """A fixed number of worker slots shared by any number of threads."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"workers must be at least 1, got {size}")
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)
        self.size = size

    def start(self) -> None:
        """Start every worker now rather than on first use."""
        slots = [self._idle.get() for _ in range(self.size)]
        try:
            slots = [slot if slot is not None and slot.alive() else _Worker() for slot in slots]
        finally:
            for slot in slots:
                self._idle.put(slot)

    def run(self, job: Check, timeout: float) -> Reply:
        """Run one job; raises WorkerTimeout or WorkerFailed (the worker is then replaced)."""
        worker = self._idle.get()
        healthy = False
        try:
            if worker is None or not worker.alive():
                worker = None
                worker = _Worker()
            reply = worker.request(job, timeout)
            healthy = True
            return reply
        finally:
            if not healthy and worker is not None:
                worker.kill()
            self._idle.put(worker if healthy else None)

    def close(self) -> None:
        for _ in range(self.size):
            worker = self._idle.get()
            if worker is not None:
                worker.kill()
        for _ in range(self.size):
            self._idle.put(None)


def _serve() -> None:
    """Worker main loop: jobs in on stdin, replies out on stdout, until stdin closes."""
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT_BYTES, _MEMORY_LIMIT_BYTES))
    from verifiers.math.compare import match_answers
    from verifiers.math.symbolic import SympyJudge

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer

    def send(payload: bytes) -> None:
        stdout.write(_HEADER.pack(len(payload)) + payload)
        stdout.flush()

    @functools.lru_cache(maxsize=4096)
    def judge(response: str, gold: str) -> Reply:
        """Samples of one question often repeat an answer: judge each pair once."""
        judge = SympyJudge()
        result, detail = match_answers(response, gold, judge)
        return Reply(result, judge.method, detail)

    send(_READY)
    while header := stdin.read(_HEADER.size):
        job = msgspec.msgpack.decode(stdin.read(_HEADER.unpack(header)[0]), type=Check)
        try:
            reply = judge(job.response, job.gold)
        except MemoryError:
            reply = Reply(None, error="memory_limit")
        except Exception as error:  # reported to the caller as an infrastructure failure
            reply = Reply(None, error=f"{type(error).__name__}: {error}"[:500])
        send(msgspec.msgpack.encode(reply))


if __name__ == "__main__":
    _serve()
