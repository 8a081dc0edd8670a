"""``--serve CHECKPOINT``: vLLM's OpenAI server (or any configured command) for one eval.

The server runs under engine.eval.watchdog, which stops its whole process group when the eval
closes the watchdog's stdin: at the end of the eval, and also when the eval dies, however it
dies (the pipe closes with the process). Readiness is ``GET /health`` answering 200 and
``/v1/models`` listing the checkpoint (vLLM serves a model under its ``--model`` path).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from engine.eval.suite import ServeSpec

POLL_S = 0.5
LOG_TAIL_LINES = 30


class ServeError(RuntimeError):
    """The model server did not come up; the message ends with its log's tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_argv(spec: ServeSpec, checkpoint: str, port: int) -> list[str]:
    """The configured command with ``{python}``, ``{checkpoint}`` and ``{port}`` filled in."""
    values = {"{python}": sys.executable, "{checkpoint}": checkpoint, "{port}": str(port)}
    argv = []
    for part in [*spec.command, *spec.args]:
        for placeholder, value in values.items():
            part = part.replace(placeholder, value)
        argv.append(part)
    return argv


def _tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"


@contextlib.asynccontextmanager
async def served_model(spec: ServeSpec, checkpoint: str, log_path: Path) -> AsyncIterator[str]:
    """Start the server on a free loopback port; yield its base URL (``.../v1``) once ready."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine.eval.watchdog", str(spec.stop_grace_s), "--",
            *server_argv(spec, checkpoint, port),
            stdin=asyncio.subprocess.PIPE, stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        await _wait_ready(process, root, checkpoint, spec.health_timeout_s, log_path)
        yield f"{root}/v1"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        await process.wait()


async def _wait_ready(
    process: asyncio.subprocess.Process,
    root: str,
    model: str,
    timeout_s: float,
    log_path: Path,
) -> None:
    deadline = time.monotonic() + timeout_s
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:
        while True:
            if process.returncode is not None:
                raise ServeError(
                    f"model server exited with status {process.returncode} before it was ready "
                    f"(log {log_path}):\n{_tail(log_path)}"
                )
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with http.get(f"{root}/health") as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise ServeError(
                    f"model server not healthy after {timeout_s:.0f}s (log {log_path}):\n"
                    f"{_tail(log_path)}"
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), POLL_S)
        async with http.get(f"{root}/v1/models") as response:
            listed = await response.json(content_type=None)
    names = [entry.get("id") for entry in listed.get("data", []) if isinstance(entry, dict)]
    if model not in names:
        raise ServeError(f"model server lists {names}, not the checkpoint {model!r}")
