"""Math check worker processes, forked from one pre-imported template process.

``python -m verifiers.math.worker PARENT_PID`` is the template (a fork server): it imports the
verifier and sympy once, then forks a worker per request on its control socket and hands the
parent the worker's end of a fresh socket pair (SCM_RIGHTS) and its pid. A fork takes a few
milliseconds where a fresh interpreter importing sympy takes about a second, so a worker killed
for running past its time budget is replaced at once.

A worker runs whole checks (extraction, normalisation, fast paths, sympy): it reads frames of
jobs and cancellations, runs its queue in order and sends each verdict as soon as it has it, so
the parent always knows which job is running and since when (see verifiers.math.pool).

Both kinds of process die with their parent: PR_SET_PDEATHSIG (SIGKILL) plus a check that the
parent is still the one that started them, and the template exits when its control socket
closes, killing its workers.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import itertools
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
from collections import deque

import msgspec

from verifiers.verdict import Verdict

HEADER = struct.Struct(">I")
MEMORY_LIMIT_BYTES = 4 << 30
SOCKET_BUFFER_BYTES = 4 << 20
READY = b"R"
SPAWN = b"S"
_PR_SET_PDEATHSIG = 1
POLL_S = 0.001
# Checks that take every path (parser, exact forms, mpmath, sympy's simplify) once.
WARM_UP = [
    (r"\boxed{\frac{\cos x}{\sin x}}", r"\cot x"),
    (r"\boxed{2\sin x \cos x}", r"\sin 2x"),
    (r"The answer is $(1, \frac{\sqrt{2}}{2}]$.", r"\left(1, \tfrac{1}{\sqrt2}\right]"),
]


class Job(msgspec.Struct, array_like=True):
    id: int
    response: str
    gold: str


class Batch(msgspec.Struct, array_like=True):
    """Parent -> worker: jobs to queue, ids of queued jobs to drop (moved to another worker)."""

    jobs: list[Job] = []
    cancel: list[int] = []


class Done(msgspec.Struct, array_like=True):
    """Worker -> parent: a job's verdict, or ``bad_gold`` with the reason (the caller's error)."""

    id: int
    verdict: Verdict | None = None
    bad_gold: str = ""


def frame(message: msgspec.Struct) -> bytes:
    payload = msgspec.msgpack.encode(message)
    return HEADER.pack(len(payload)) + payload


def split_frames(buffer: bytearray) -> list[bytes]:
    """Complete frames at the head of ``buffer`` (removed from it)."""
    frames, pos = [], 0
    while len(buffer) - pos >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer, pos)
        if len(buffer) - pos - HEADER.size < size:
            break
        frames.append(bytes(buffer[pos + HEADER.size : pos + HEADER.size + size]))
        pos += HEADER.size + size
    del buffer[:pos]
    return frames


def die_with(parent_pid: int) -> None:
    """SIGKILL this process when its parent exits (and exit now if it already has)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)


def _serve(channel: socket.socket) -> None:
    """Worker loop: queue jobs as they arrive, run them in order, answer each at once."""
    from verifiers.math.grade import grade

    decoder = msgspec.msgpack.Decoder(Batch)
    queue: deque[Job] = deque()
    cancelled: set[int] = set()
    buffer = bytearray()
    polled = 0.0
    while True:
        # Blocks when idle; otherwise looks for new jobs and cancellations every POLL_S (a
        # missed cancellation only costs a check the parent no longer waits for).
        now = time.monotonic()
        if not queue or now - polled >= POLL_S:
            polled = now
            if select.select([channel], [], [], None if not queue else 0)[0]:
                chunk = channel.recv(1 << 20)
                if not chunk:
                    return  # the parent closed its end
                buffer += chunk
                for payload in split_frames(buffer):
                    batch = decoder.decode(payload)
                    queue.extend(batch.jobs)
                    cancelled.update(batch.cancel)
            if not queue:
                continue
        job = queue.popleft()
        if job.id in cancelled:
            cancelled.discard(job.id)
            continue
        try:
            done = Done(job.id, grade(job.response, job.gold))
        except ValueError as error:  # the gold holds no answer: the caller's mistake
            done = Done(job.id, bad_gold=str(error))
        except MemoryError:
            done = Done(job.id, Verdict("memory_limit", detail="the check ran out of memory"))
        except Exception as error:  # a verifier bug is infrastructure, never a wrong answer
            detail = f"{type(error).__name__}: {error}"[:500]
            done = Done(job.id, Verdict("infra_error", detail=detail))
        channel.sendall(frame(done))


def _fork_worker(control: socket.socket, children: set[int]) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for end, option in itertools.product((ours, theirs), (socket.SO_SNDBUF, socket.SO_RCVBUF)):
        end.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
    template = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            theirs.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            die_with(template)
            _serve(ours)
        finally:
            os._exit(0)
    children.add(pid)
    ours.close()
    socket.send_fds(control, [struct.pack(">i", pid)], [theirs.fileno()])
    theirs.close()


def _template(parent_pid: int, control_fd: int) -> None:
    """Fork server main: import everything once, fork a worker per request, until EOF."""
    die_with(parent_pid)
    sys.stdout = sys.stderr  # nothing may print into a protocol stream
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    from verifiers.math.grade import clear_caches, grade

    for response, gold in WARM_UP:  # sympy loads and primes itself once, before any fork
        grade(response, gold)
    clear_caches()

    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished workers
    children: set[int] = set()
    control.sendall(READY)
    try:
        while request := control.recv(1):
            if request == SPAWN:
                _fork_worker(control, children)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def receive_worker(control: socket.socket) -> tuple[int, socket.socket]:
    """The (pid, channel) the template sends back for a SPAWN request."""
    fds = array.array("i")
    message, ancillary, _, _ = control.recvmsg(4, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    if len(message) != 4 or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise ConnectionError("math worker template sent a malformed reply")
    return struct.unpack(">i", message)[0], socket.socket(fileno=fds[0])


if __name__ == "__main__":
    _template(int(sys.argv[1]), int(sys.argv[2]))
