"""``run``, ``serve`` and ``check``: a recipe in the foreground, with a status endpoint, or
only validated."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from engine import build
from engine import job as jobs
from engine.cli.loop import run
from engine.config import Recipe, load_recipe, missing_keys
from engine.exits import Exit
from engine.metrics import Metrics


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


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``run ... | head``), so later
    writes and the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _checked(config: str) -> Recipe:
    """The recipe, with everything refused that ``check`` refuses."""
    recipe = load_recipe(config)
    build.check(recipe, Path(config).name)
    return recipe


async def _job(args: argparse.Namespace, serve: bool) -> int:
    recipe = _checked(args.config)
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
    try:
        print(_summary(job), flush=True)
    except BrokenPipeError:  # the reader of stdout has gone: the job's outcome stands
        silence_stdout()
    if job.failure:
        print(f"error: the job failed: {job.failure}", file=sys.stderr)
    return code


def cmd_run(args: argparse.Namespace) -> int:
    return run(_job(args, serve=False))


def cmd_serve(args: argparse.Namespace) -> int:
    return run(_job(args, serve=True))


def cmd_check(args: argparse.Namespace) -> int:
    recipe = _checked(args.config)
    for problem in missing_keys(recipe):
        print(f"warning: {args.config}: {problem} (needed to run)", file=sys.stderr)
    print(f"{args.config}: ok (recipe {recipe.sample_hash()}, {len(recipe.sources)} sources)")
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
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
