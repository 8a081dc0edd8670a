"""``view``: the dashboard and record browser of an output directory, read-only; and the server
``serve`` runs beside its job."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from engine.cli.loop import run
from engine.cli.output import output_dir
from engine.exits import Exit
from engine.metrics import Metrics

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@contextlib.asynccontextmanager
async def dashboard(
    directory: Path, metrics: Metrics | None, args: argparse.Namespace
) -> AsyncIterator[None]:
    """The dashboard of ``directory`` (with the live ``metrics`` of its job, when one runs) on
    ``--host``/``--port`` for the length of the block."""
    from engine.dashboard.app import bound_port, make_app, start
    from engine.dashboard.data import OutputView

    token = args.token
    if token is None and args.host not in LOOPBACK:
        token = secrets.token_urlsafe(16)
    runner = await start(make_app(OutputView(directory), metrics, token), args.host, args.port)
    suffix = f"/?token={token}" if token else "/"
    url = f"http://{args.host}:{bound_port(runner)}{suffix}"
    print(f"dashboard on {url}", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        await runner.cleanup()


async def until_signal() -> None:
    """Wait for SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def cmd_view(args: argparse.Namespace) -> int:
    directory = output_dir(args.outdir)

    async def main() -> int:
        async with dashboard(directory, None, args):
            await until_signal()
        return Exit.OK

    return run(main())


def add_server_options(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port}; 0 picks one)")
    p.add_argument(
        "--token",
        help="require this token (?token=...); one is made up when --host is not loopback",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="dashboard and record browser of an output directory")
    p.add_argument("outdir", help="output directory of a run (finished, interrupted or running)")
    add_server_options(p, 8322)
    p.set_defaults(handler=cmd_view)
