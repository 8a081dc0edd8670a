"""``python -m engine COMMAND``: run, serve, status, check, cat, mock-teacher.

Exit codes: 0 done (or stopped cleanly by a signal; run again to resume), 1 the job failed,
2 bad usage or config, 3 the output was made by a different recipe, 4 output not writable
(e.g. disk full; what was written is kept), 130 forced stop by a second signal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import msgspec

from engine import job as jobs
from engine.config import ConfigError, load_recipe, missing_keys
from engine.metrics import Metrics
from engine.sources import SourceError
from engine.storage import shards
from engine.storage.output import RecipeChanged, summarize


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to its result, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    uvloop.install()  # pragma: no cover
    return asyncio.run(coroutine)


async def _report_progress(metrics: Metrics, every: float) -> None:
    """Live progress on stderr: one rewritten line on a terminal, a line every 10 s otherwise."""
    tty = sys.stderr.isatty()
    while True:
        await asyncio.sleep(every if tty else 10 * every)
        end = "\r" if tty else "\n"
        print(metrics.progress_line(), end=end, file=sys.stderr, flush=True)


def _summary(job: jobs.Job) -> str:
    s = job.metrics.snapshot()
    lines = [
        f"{s.state}: {s.samples_written} samples written this run "
        f"({s.samples_skipped_resume} already present), {s.questions_done} questions done",
        f"requests {s.requests}  retries {s.retries}  429s {s.rate_limited}  "
        f"truncated {s.truncated}  early-stopped (calls saved) {s.early_stopped}  "
        f"failures {dict(s.failures)}",
        f"output {job.output.directory}: {job.output.samples.records} records in "
        f"{job.output.samples.shard_count} shards",
    ]
    if s.pass_rate is not None:
        lines.append(f"pass rate {100 * s.pass_rate:.1f}% ({s.passed}/{s.verified} verified)")
    lines.append("funnel (all runs for samples, this run before sampling):")
    lines.append(job.funnel.table())
    return "\n".join(lines)


async def _job(args: argparse.Namespace, serve: bool) -> int:
    recipe = load_recipe(args.config)
    job = jobs.Job(recipe, allow_recipe_change=args.allow_recipe_change)
    jobs.install_signal_handlers(job)
    tasks = []
    if not args.quiet:
        tasks.append(asyncio.ensure_future(_report_progress(job.metrics, 1.0)))
    runner = None
    if serve:
        from engine.serve import start_status_server

        runner = await start_status_server(job.metrics, args.host, args.port)
        print(f"status on http://{args.host}:{args.port}/status", file=sys.stderr, flush=True)
    try:
        code = await job.run()
    finally:
        for task in tasks:
            task.cancel()
        if runner is not None:
            await runner.cleanup()
    if not args.quiet:
        print(file=sys.stderr)
    print(_summary(job), flush=True)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    return _run(_job(args, serve=False))


def cmd_serve(args: argparse.Namespace) -> int:
    return _run(_job(args, serve=True))


def cmd_check(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.config)
    for problem in missing_keys(recipe):
        print(f"warning: {args.config}: {problem} (needed to run)", file=sys.stderr)
    print(f"{args.config}: ok (recipe {recipe.sample_hash()}, {len(recipe.sources)} sources)")
    return jobs.EXIT_OK


def _output_dir(args: argparse.Namespace) -> Path:
    directory = Path(args.outdir)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such output directory")
    return directory


def cmd_status(args: argparse.Namespace) -> int:
    streams = summarize(_output_dir(args))
    if args.json:
        print(msgspec.json.encode(streams).decode())
        return jobs.EXIT_OK
    for name, summary in streams.items():
        print(
            f"{name}: {summary.records} records, {summary.questions} questions, "
            f"{summary.shards} closed shards, {summary.open_parts} open"
        )
        for outcome, count in sorted(summary.outcomes.items(), key=lambda kv: -kv[1]):
            print(f"  {outcome:<32} {count}")
    return jobs.EXIT_OK


def cmd_cat(args: argparse.Namespace) -> int:
    directory = _output_dir(args)
    out = sys.stdout.buffer
    with contextlib.suppress(BrokenPipeError):
        for path in shards.list_shards(directory, args.name):
            for line in shards.iter_lines(path):
                out.write(line + b"\n")
        out.flush()
    return jobs.EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from engine.export import ExportSpec, export

    spec = ExportSpec(
        answer_filter=args.answer_filter, keep_truncated=args.keep_truncated, name=args.name
    )
    report = _run(export(Path(args.outdir), Path(args.dest), spec))
    print(msgspec.json.format(msgspec.json.encode(report)).decode())
    return jobs.EXIT_OK


def cmd_mock_teacher(args: argparse.Namespace) -> int:
    from engine.mock_teacher import MockOptions, MockTeacher, bound_port, serve

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
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        return jobs.EXIT_OK

    return _run(main())


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)

    for name, handler, text in (
        ("run", cmd_run, "run a recipe in the foreground with live progress"),
        ("serve", cmd_serve, "run a recipe with an HTTP status endpoint"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="recipe TOML file")
        p.add_argument("--allow-recipe-change", action="store_true",
                       help="add samples under a changed recipe to an existing output")  # fmt: skip
        p.add_argument("--quiet", action="store_true", help="no live progress line")
        if name == "serve":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=8321)
        p.set_defaults(handler=handler)

    p = sub.add_parser("check", help="validate a recipe without running it")
    p.add_argument("--config", required=True)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("status", help="counts from an output directory alone")
    p.add_argument("outdir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("cat", help="stream the records of an output directory as JSON lines")
    p.add_argument("outdir")
    p.add_argument("--name", default=None, help="only shards of this job name")
    p.set_defaults(handler=cmd_cat)

    p = sub.add_parser("export", help="training export: ShareGPT conversations + OpenAI messages")
    p.add_argument("outdir")
    p.add_argument("dest")
    p.add_argument("--answer-filter", choices=["none", "passed", "majority"], default="none")
    p.add_argument("--keep-truncated", action="store_true")
    p.add_argument("--name", default="train")
    p.set_defaults(handler=cmd_export)

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
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, SourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return jobs.EXIT_USAGE
    except RecipeChanged as error:
        print(f"error: {error}", file=sys.stderr)
        return jobs.EXIT_RECIPE_CHANGED
    except OSError as error:
        print(f"error: output: {error}", file=sys.stderr)
        return jobs.EXIT_OUTPUT_ERROR
