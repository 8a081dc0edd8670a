"""The mock teacher as a child process of a job: started with its options and answer key,
stopped at exit, and gone when its parent dies, even by SIGKILL.

Two mechanisms, because each has a gap the other closes: the child asks the kernel for SIGTERM
when its parent dies (``PR_SET_PDEATHSIG``, Linux), and it watches its stdin, a pipe whose only
writer is the parent, and exits at end of file (this also covers a parent that died before the
child's prctl ran, and systems without prctl). The answer key lives in a temp dir named after the
parent's pid, removed at exit; dirs left by a dead parent are removed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import msgspec

from engine.records import Question
from engine.testing.answer_key import rows_of, write_key
from engine.testing.options import MockOptions
from sandbox.docker import process_exists

PREFIX = "thoughtmill-mock-"
_PR_SET_PDEATHSIG = 1
_STARTUP_S = 60.0


class MockStartError(RuntimeError):
    """The mock teacher process did not come up; the message has what it printed."""


def die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux; elsewhere the stdin pipe does)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def remove_stale_dirs(root: Path | None = None) -> list[Path]:
    """Remove the temp dirs of mock teachers whose parent process is gone; returns them."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{PREFIX}*"):
        m = re.fullmatch(rf"{PREFIX}(\d+)-.*", path.name)
        if m and path.is_dir() and not process_exists(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.asynccontextmanager
async def mock_teacher_process(
    options: MockOptions, questions: Iterable[Question] | None = None
) -> AsyncIterator[str]:
    """Run ``python -m engine mock-teacher`` for the length of the block; yields its base URL
    (``http://127.0.0.1:PORT/v1``). With ``options.answer_key`` true, the key is written from
    ``questions`` (answers, options, ``metadata["solution"]`` programs); a path is used as is."""
    remove_stale_dirs()
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-") as tmp:
        if options.answer_key is True and questions is not None:
            key = Path(tmp) / "answer_key.jsonl"
            write_key(key, rows_of(questions))
            options = msgspec.structs.replace(options, answer_key=str(key))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "mock-teacher", "--port", "0", "--parent-pipe",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(msgspec.json.encode(options) + b"\n")
            await process.stdin.drain()
            yield await _url(process)
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()


async def _url(process: asyncio.subprocess.Process) -> str:
    """The URL line the mock prints once it listens."""
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), _STARTUP_S)).decode()
    except asyncio.TimeoutError:
        line = ""
    if "http://" not in line:
        if process.returncode is None:
            process.kill()
        code = await process.wait()
        raise MockStartError(f"mock teacher did not start (exit {code}; its stderr says why)")
    return line[line.index("http://") :].strip()
