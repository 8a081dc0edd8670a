"""One writer per output: an advisory lock (``flock``) on a file in the output directory, held for
the whole run, with its holder (pid, host, start time) written in it as JSON.

The whole job takes ``lock`` exclusively. A partition ``I`` (one of N runs of a job, issue 16)
takes ``lock`` shared and ``lock-I`` exclusively: partitions run side by side, the same partition
twice is refused, and a whole-job run beside any partition is refused, as is a partition beside a
whole-job run. Readers (``status``, ``cat``, ``export``) never take it.

A lock left by a dead process is no obstacle: the kernel drops an flock when the last descriptor
of its open file goes away, which a SIGKILL does too (the descriptor is close-on-exec, so no child
process keeps it). The next writer takes it and says whose it was (a holder that ends normally
empties the file). On NFS, Linux emulates flock with POSIX byte-range locks (NLM on NFSv3, leases
on NFSv4): writers on different clients exclude each other while the lock service works; a lock of
a client that crashed is held until the server's lease or grace period ends (about 90 s on NFSv4),
so the next run is refused until then; a ``nolock`` mount keeps locks local to each host, which
cannot keep two hosts apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

WHOLE = "lock"
_HOLDER_WAIT_S = 2.0  # a holder writes its name right after taking the lock


class OutputLocked(Exception):
    """Another process writes this output (or this partition of it); the message names it."""


class Holder(msgspec.Struct):
    pid: int
    host: str
    started: float
    partition: int | None = None

    def __str__(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        part = "" if self.partition is None else f" (partition {self.partition})"
        return f"pid {self.pid} on host {self.host}{part}, running since {since}"


def partition_lock(partition: int) -> str:
    return f"lock-{partition}"


class OutputLock:
    """``with OutputLock(directory):`` holds the output (or ``partition``) for the block."""

    def __init__(self, directory: Path, partition: int | None = None):
        self.directory = directory
        self.partition = partition
        self._fds: list[int] = []

    def __enter__(self) -> OutputLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            if self.partition is None:
                mine = self._take(WHOLE, fcntl.LOCK_EX)
            else:
                self._take(WHOLE, fcntl.LOCK_SH)
                mine = self._take(partition_lock(self.partition), fcntl.LOCK_EX)
        except BaseException:
            self._release()
            raise
        self._claim(mine)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(self._fds[-1], 0)  # a clean end: nobody to name as a stale holder
        self._release()

    def _take(self, name: str, mode: int) -> int:
        path = self.directory / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLocked(f"{self.directory}: {self._refusal(name)}") from None
        self._fds.append(fd)
        return fd

    def _refusal(self, name: str) -> str:
        """Who holds what ``name`` stands for: its own holder, or (the whole job refused beside
        partitions) the holder of a partition lock."""
        candidates = [self.directory / name]
        if name == WHOLE:
            candidates += sorted(self.directory.glob("lock-*"))
        holder = _wait_for_holder(candidates)
        who = str(holder) if holder else "another process (it has not written its name)"
        return f"output is being written by {who}; wait for it to end or stop it"

    def _claim(self, fd: int) -> None:
        """Write this process as the holder, noting a holder that died without releasing."""
        stale = _decode(os.pread(fd, 4096, 0))
        if stale is not None:
            log.warning("took over the output lock of %s: it ended without releasing it", stale)
        me = Holder(os.getpid(), socket.gethostname(), time.time(), self.partition)
        data = msgspec.json.encode(me) + b"\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    def _release(self) -> None:
        for fd in reversed(self._fds):
            os.close(fd)  # closing the only descriptor drops the flock
        self._fds = []


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``path`` exclusively for a short read-modify-write (waits for the holder; a
    holder that dies releases it with its descriptor)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _decode(data: bytes) -> Holder | None:
    try:
        return msgspec.json.decode(data, type=Holder)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def read_holder(path: Path) -> Holder | None:
    try:
        return _decode(path.read_bytes())
    except FileNotFoundError:
        return None


def _wait_for_holder(paths: list[Path]) -> Holder | None:
    """The first holder named in ``paths``; a holder that has just taken its lock writes its
    name a moment later, so an empty file is read again for a short while."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        for path in paths:
            if (holder := read_holder(path)) is not None:
                return holder
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)
