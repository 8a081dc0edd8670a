"""``run``, ``serve`` and ``check``: a recipe in the foreground, with a status endpoint, or
only validated."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from engine import build
from engine import job as jobs
from engine.cli.loop import run
from engine.cli.view import add_server_options, dashboard, until_signal
from engine.config import Recipe, load_recipe, missing_keys
from engine.errors import UsageError
from engine.exits import Exit
from engine.progress import Progress


def _summary(job: jobs.Job) -> str:
    s = job.metrics.snapshot()
    lines = [
        f"{s.state}: {s.samples_written} samples written this run "
        f"({s.samples_skipped_resume} already present), {s.questions_done} questions done",
        f"requests {s.requests}  retries {s.retries}  429s {s.rate_limited}  "
        f"truncated {s.truncated}  early-stopped {s.early_stopped} (calls saved)",
        "failures " + (", ".join(f"{k} {n}" for k, n in sorted(s.failures.items())) or "none"),
        f"output {job.output.directory}: {job.output.samples.records} records in "
        f"{job.output.samples.shard_count} shards",
    ]
    used = job.metrics.usage
    lines.append(
        f"cost ${s.cost_usd:.4f}"
        + "".join(
            f"  {model}: {u.prompt_tokens} in, {u.completion_tokens} out, ${u.cost_usd:.4f}"
            for model, u in sorted(used.items())
        )
    )
    if s.pass_rate is not None:
        lines.append(f"pass rate {100 * s.pass_rate:.1f}% ({s.passed}/{s.verified} verified)")
    lines.append("funnel (all runs for samples, this run before sampling):")
    lines.append(job.funnel.table())
    return "\n".join(lines)


def recipe_overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` assignments, with ``--limit``, ``--output`` and ``--[no-]retry-failed`` as the
    keys they stand for."""
    sets = list(args.set)
    if args.limit is not None:
        sets.append(f"limits.max_questions={args.limit}")
    if args.output is not None:
        sets.append(f"output.dir={json.dumps(args.output)}")
    if getattr(args, "retry_failed", None) is not None:  # run and serve
        sets.append(f"output.retry_failed={json.dumps(args.retry_failed)}")
    return sets


def add_override_options(
    p: argparse.ArgumentParser, limit_help: str = "read at most N questions"
) -> None:
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the recipe (or suite), typed and checked like the file "
        "(repeatable), e.g. --set sampling.max_tokens=4096 --set output.shard_records=500",
    )
    p.add_argument("--limit", type=int, metavar="N", help=limit_help)
    p.add_argument("--output", metavar="DIR", help="write to DIR instead of [output] dir")


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``run ... | head``), so later
    writes and the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _checked(args: argparse.Namespace) -> Recipe:
    """The recipe (overrides applied), with everything refused that ``check`` refuses."""
    recipe = load_recipe(args.config, recipe_overrides(args))
    build.check(recipe, Path(args.config).name)
    return recipe


@contextlib.asynccontextmanager
async def _served(job: jobs.Job, args: argparse.Namespace) -> AsyncIterator[None]:
    """``serve``'s dashboard for the block; a port in use is a usage error naming it."""
    try:
        server = dashboard(job.output.directory, job.metrics, args)
        await server.__aenter__()
    except OSError as error:
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound: {error}"
        message = f"serve: port {args.port} on {args.host} {reason} (choose another --port)"
        raise UsageError(message) from None
    try:
        yield
    finally:
        await server.__aexit__(None, None, None)


async def _job(args: argparse.Namespace, serve: bool) -> int:
    recipe = _checked(args)
    job = jobs.Job(recipe, allow_recipe_change=args.allow_recipe_change)
    jobs.install_signal_handlers(job)
    async with contextlib.AsyncExitStack() as server:
        if serve:
            await server.enter_async_context(_served(job, args))
        async with contextlib.AsyncExitStack() as progress:
            if not args.quiet:
                await progress.enter_async_context(Progress(job.metrics))
            code = await job.run()
        try:
            print(_summary(job), flush=True)
        except BrokenPipeError:  # the reader of stdout has gone: the job's outcome stands
            silence_stdout()
        if job.failure:
            print(f"error: the job failed: {job.failure}", file=sys.stderr)
        if serve and args.keep_serving:
            print("job ended; dashboard still up until SIGINT/SIGTERM", file=sys.stderr, flush=True)
            await until_signal()
    return code


def cmd_run(args: argparse.Namespace) -> int:
    return run(_job(args, serve=False))


def cmd_serve(args: argparse.Namespace) -> int:
    return run(_job(args, serve=True))


def cmd_check(args: argparse.Namespace) -> int:
    recipe = _checked(args)
    for problem in missing_keys(recipe):
        print(f"warning: {args.config}: {problem} (needed to run)", file=sys.stderr)
    print(f"{args.config}: ok (recipe {recipe.sample_hash()}, {len(recipe.sources)} sources)")
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    for name, handler, text in (
        ("run", cmd_run, "run a recipe in the foreground with live progress"),
        ("serve", cmd_serve, "run a recipe with its dashboard, /status and /metrics"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", required=True, help="recipe TOML file")
        p.add_argument("--allow-recipe-change", action="store_true",
                       help="add samples under a changed recipe to an existing output")  # fmt: skip
        p.add_argument("--quiet", action="store_true", help="no live progress line")
        add_override_options(p)
        p.add_argument("--retry-failed", action=argparse.BooleanOptionalAction, default=None,
                       help="ask again for samples whose last attempt failed retryably "
                       "(output.retry_failed, default true)")  # fmt: skip
        if name == "serve":
            add_server_options(p, 8321)
            p.add_argument(
                "--keep-serving",
                action="store_true",
                help="keep the dashboard up after the job ends, until SIGINT/SIGTERM",
            )
        p.set_defaults(handler=handler)

    p = sub.add_parser("check", help="validate a recipe without running it")
    p.add_argument("--config", required=True, help="recipe TOML file")
    add_override_options(p)
    p.set_defaults(handler=cmd_check)
