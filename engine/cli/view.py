"""``view``: the dashboard and record browser of an output directory, read-only."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from engine.cli.loop import run
from engine.cli.output import output_dir
from engine.exits import Exit


def cmd_view(args: argparse.Namespace) -> int:
    from engine.dashboard.app import bound_port, make_app, start
    from engine.dashboard.data import OutputView

    view = OutputView(output_dir(args.outdir))
    token = guard_token(args.host, args.token)

    async def main() -> int:
        runner = await start(make_app(view, token=token), args.host, args.port)
        suffix = f"/?token={token}" if token else "/"
        print(f"dashboard on http://{args.host}:{bound_port(runner)}{suffix}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        return Exit.OK

    return run(main())


def guard_token(host: str, token: str | None) -> str | None:
    """The token the dashboard requires: none on loopback unless given; one is required (and
    made up when not given) when bound elsewhere."""
    if token or host in ("127.0.0.1", "localhost", "::1"):
        return token
    import secrets

    token = secrets.token_urlsafe(16)
    print(f"bound to {host}: requests need ?token={token}", file=sys.stderr, flush=True)
    return token


def add_server_options(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=port, help=f"port (default {port}; 0 picks one)")
    p.add_argument(
        "--token", help="require this token (?token=...); made up when --host is not loopback"
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="dashboard and record browser of an output directory")
    p.add_argument("outdir", help="output directory of a run (finished, interrupted or running)")
    add_server_options(p, 8322)
    p.set_defaults(handler=cmd_view)
