"""The zygote: a warm ``python3 -I`` inside the sandbox that forks one child per job (stdlib only).

Its memory is what every job starts from, so it imports little: each module it holds makes every
fork dearer (page tables to copy) except the few that jobs commonly import (``PRELOADED``).
Started by the runner as ``python3 -I -c <this source> FD`` with a SOCK_SEQPACKET socket on FD.
Per job it receives a JSON message and the job's stdin/stdout/stderr descriptors, answers
``{"pid"}`` once forked and ``{"status", "compiled", "wall_s", "cpu_s", "memory_kb"}`` once
reaped; ``compiled`` is false for Python source with a syntax error.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import signal
import socket
import sys
import time

MESSAGE_BYTES = 1 << 16
STACK_BYTES = 64 << 20
OPEN_FILES = 256
#: exit status of a job child that failed before its program started (limits, uid, exec)
SETUP_FAILED = 126
#: where a Python job writes one byte once its source compiled (close-on-exec elsewhere)
COMPILED_FD = 3
# Imported once by the zygote, so jobs that import them pay nothing (a fresh Python pays about
# 45 ms for the first ten; LiveCodeBench's prelude imports all of them). Never a module whose
# import-time state jobs must not share; random reseeds itself in every forked child.
PRELOADED = (
    "bisect", "collections", "copy", "datetime", "functools", "heapq", "itertools", "json",
    "math", "operator", "random", "re", "statistics", "string", "typing",
)  # fmt: skip


def main(fd: int) -> None:
    """Fork a job per request; the child never comes back (it execs or exits)."""
    channel = socket.socket(fileno=fd)
    for module in PRELOADED:
        __import__(module)
    gc.freeze()  # children then leave the inherited heap alone (fewer copy-on-write faults)
    channel.send(b'{"ready": true}')
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, MESSAGE_BYTES, 3)
        except OSError:
            return
        if not message:
            return
        job = json.loads(message)
        started = time.monotonic()
        compiled_read, compiled_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            channel.close()
            os.close(compiled_read)
            _become_job(job, [*fds, compiled_write])
            _run_python(job["argv"])
        for fd_ in (*fds, compiled_write):
            os.close(fd_)
        channel.send(json.dumps({"pid": pid}).encode())
        _, status, usage = os.wait4(pid, 0)
        compiled = job["argv"][0] != "python3" or os.read(compiled_read, 1) == b"1"
        os.close(compiled_read)
        answer = {
            "status": status,
            "compiled": compiled,
            "wall_s": time.monotonic() - started,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "memory_kb": usage.ru_maxrss,
        }
        channel.send(json.dumps(answer).encode())


def _become_job(job: dict, fds: list[int]) -> None:
    """Limits, uid, work dir and stdio of a job child; execs unless the program is Python.

    fds: the job's stdin, stdout, stderr, and the pipe on which a Python job says it compiled;
    they become descriptors 0 to 3, and every other descriptor is closed."""
    try:
        os.setsid()
        try:
            with open("/proc/self/oom_score_adj", "w") as adj:
                adj.write("1000")  # the kernel's out-of-memory killer takes jobs first
        except OSError:
            pass
        limits = job["limits"]
        cpu = max(1, int(-(-limits["cpu_s"] // 1)))
        for kind, value in (
            (resource.RLIMIT_CPU, (cpu, cpu + 1)),
            (resource.RLIMIT_AS, limits["memory_bytes"]),
            (resource.RLIMIT_FSIZE, limits["file_bytes"]),
            (resource.RLIMIT_STACK, min(STACK_BYTES, limits["memory_bytes"])),
            (resource.RLIMIT_NOFILE, OPEN_FILES),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, value if isinstance(value, tuple) else (value, value))
        uid = job["uid"]
        if uid is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"],) * 2)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        os.umask(0o022)
        os.mkdir(job["cwd"], 0o711)  # the runner may fetch a named artifact
        os.chdir(job["cwd"])
        for target, fd in enumerate(fds):
            os.dup2(fd, target, inheritable=target != COMPILED_FD)
        os.closerange(COMPILED_FD + 1, 1 << 16)
        os.environ.clear()
        os.environ.update(job["env"])
        argv = job["argv"]
        if argv[0] != "python3":
            for name in ("SIGPIPE", "SIGXFSZ"):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
            os.execvpe(argv[0], argv, job["env"])
    except BaseException:
        import traceback  # only here: the zygote keeps its memory small

        os.write(2, traceback.format_exc().encode())
        os._exit(SETUP_FAILED)


def _run_python(argv: list[str]) -> None:
    """Run ``python3 FILE`` or ``python3 -c CODE`` the way a fresh interpreter would; say on
    COMPILED_FD that the source compiled before any of it runs (a syntax error never does)."""
    import builtins
    import types

    if argv[1] == "-c":
        source, filename, sys.argv = argv[2], "<string>", ["-c", *argv[3:]]
    else:
        filename, sys.argv = argv[1], argv[1:]
        with open(filename, "rb") as file:
            source = file.read()
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    if filename != "<string>":
        main.__file__ = filename
    sys.modules["__main__"] = main
    try:
        program = compile(source, filename, "exec")
        os.write(COMPILED_FD, b"1")
        os.close(COMPILED_FD)
        exec(program, main.__dict__)
    except SystemExit as stop:
        code = _exit_status(stop)
    except BaseException as error:
        error = error.with_traceback(error.__traceback__.tb_next)  # not this function's frame
        sys.excepthook(type(error), error, error.__traceback__)
        code = 1
    else:
        code = 0
    _exit_like_python(code)


def _exit_status(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code & 0xFF
    print(stop.code, file=sys.stderr)
    return 1


def _exit_like_python(code: int) -> None:
    """What interpreter shutdown does that a program can observe (threads joined, atexit,
    buffered output flushed), without tearing down the heap inherited from the zygote, which
    costs a copy-on-write fault per page."""
    import atexit

    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            code = 120  # what Python exits with when it cannot flush stdout
    os._exit(code)


if __name__ == "__main__":
    main(int(sys.argv[1]))
