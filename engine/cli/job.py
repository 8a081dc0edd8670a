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
from typing import TYPE_CHECKING

from engine import build
from engine import job as jobs
from engine.cli.loop import run
from engine.cli.view import add_server_options, dashboard, until_signal
from engine.config import Recipe, load_recipe, missing_keys
from engine.distributed.partition import Partition
from engine.errors import UsageError
from engine.exits import Exit
from engine.progress import Progress

if TYPE_CHECKING:
    from engine.distributed.driver import RayJob


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
async def _served(job: jobs.Job | RayJob, args: argparse.Namespace) -> AsyncIterator[None]:
    """``serve``'s dashboard for the block; a port in use is a usage error naming it."""
    try:
        server = dashboard(Path(job.recipe.output.dir), job.metrics, args)
        await server.__aenter__()
    except OSError as error:
        reason = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound: {error}"
        message = f"serve: port {args.port} on {args.host} {reason} (choose another --port)"
        raise UsageError(message) from None
    try:
        yield
    finally:
        await server.__aexit__(None, None, None)


def _make_job(args: argparse.Namespace) -> jobs.Job | RayJob:
    """The job the options ask for: one process (or one partition of it), or a Ray driver."""
    recipe = _checked(args)
    if args.ray is not None:
        from engine.distributed.cli import ray_job

        return ray_job(args, recipe)
    if args.workers is not None:
        raise UsageError("--workers goes with --ray (plain processes: one --partition I/N each)")
    return jobs.Job(recipe, allow_recipe_change=args.allow_recipe_change, partition=args.partition)


async def _job(args: argparse.Namespace, serve: bool) -> int:
    job = _make_job(args)
    jobs.install_signal_handlers(job)
    async with contextlib.AsyncExitStack() as server:
        if serve:
            await server.enter_async_context(_served(job, args))
        async with contextlib.AsyncExitStack() as progress:
            if not args.quiet:
                await progress.enter_async_context(Progress(job.metrics))
            code = await job.run()
        try:
            print(_summary(job) if isinstance(job, jobs.Job) else job.summary(), flush=True)
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


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


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
        p.add_argument("--partition", type=Partition.parse, metavar="I/N", default=None,
                       help="run partition I of N (0 <= I < N) of the job beside the others, "
                       "into the same output (Slurm arrays, Kubernetes indexed Jobs)")  # fmt: skip
        p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="run --workers partitions as Ray actors (ADDRESS of a cluster, "
                       "e.g. auto or HOST:6379; none: a local one); needs "
                       "pip install 'thoughtmill[ray]'")  # fmt: skip
        p.add_argument("--workers", type=_positive, default=None, metavar="N",
                       help="partition workers to start with --ray (default 2)")  # fmt: skip
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
