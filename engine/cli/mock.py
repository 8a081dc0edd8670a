"""``mock-teacher``: the project's OpenAI-compatible mock server, for tests and demos."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from engine.cli.loop import run
from engine.exits import Exit


def cmd_mock_teacher(args: argparse.Namespace) -> int:
    from engine.testing.mock_teacher import MockOptions, MockTeacher, bound_port, serve

    options = MockOptions(
        latency_ms=args.latency_ms,
        latency_dist=args.latency_dist,
        tokens_per_s=args.tokens_per_s,
        completion_tokens=args.completion_tokens,
        rpm=args.rpm,
        tpm=args.tpm,
        error_rate=args.error_rate,
        garbage_rate=args.garbage_rate,
        disconnect_rate=args.disconnect_rate,
        truncate_rate=args.truncate_rate,
        reject_n=args.reject_n,
        correct_rate=args.correct_rate,
        answer_key=args.answer_key,
        api_key=os.environ.get(args.api_key_env) if args.api_key_env else None,
        seed=args.seed,
    )

    async def main() -> int:
        runner = await serve(MockTeacher(options), args.host, args.port)
        print(f"mock teacher on http://{args.host}:{bound_port(runner)}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        return Exit.OK

    return run(main())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mock-teacher", help="OpenAI-compatible mock server for tests and demos")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--latency-dist", choices=["fixed", "exponential", "uniform"], default="fixed")
    p.add_argument("--tokens-per-s", type=float, default=0.0)
    p.add_argument("--completion-tokens", type=int, default=200)
    p.add_argument("--rpm", type=int, default=0)
    p.add_argument("--tpm", type=int, default=0)
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--garbage-rate", type=float, default=0.0)
    p.add_argument("--disconnect-rate", type=float, default=0.0)
    p.add_argument("--truncate-rate", type=float, default=0.0)
    p.add_argument("--reject-n", action="store_true", help="answer 400 to n > 1")
    p.add_argument("--answer-key", help="JSON/JSONL with problem and answer fields")
    p.add_argument("--correct-rate", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--api-key-env", help="require the key held in this environment variable")
    p.set_defaults(handler=cmd_mock_teacher)
