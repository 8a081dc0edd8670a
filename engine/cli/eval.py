"""``eval``: run a suite against a model, recompute its report, or compare two evals.

    python -m engine eval --suite configs/eval/demo.toml          # run (resumes when rerun)
    python -m engine eval --suite S --base-url URL [--model NAME]  # any OpenAI-compatible server
    python -m engine eval --suite S --serve CHECKPOINT             # start vLLM on a checkpoint
    python -m engine eval report OUTDIR                            # results from the shards alone
    python -m engine eval compare OUTDIR_A OUTDIR_B                # paired test per benchmark

Exit codes as for ``run``: 0 done or stopped cleanly (rerun to resume), 1 failed (e.g. the
model server did not start), 2 bad suite, options or paths, 3 the output was made with other
model/prompt/sampling/data (``--allow-recipe-change``), 4 output not writable, 130 forced stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path

import msgspec

from engine.cli.job import add_override_options
from engine.cli.loop import run
from engine.errors import ConfigError
from engine.eval.compare import compare, table
from engine.eval.manifest import require_manifest
from engine.eval.results import Results, compute_results, write_results
from engine.eval.runner import EvalRun
from engine.eval.serve import ServeError
from engine.eval.suite import load_suite
from engine.exits import Exit


def _overrides(args: argparse.Namespace) -> dict:
    """Command-line options as suite tables (validated with the suite, errors by key path)."""
    model: dict[str, object] = {}
    if args.model:
        model["model"] = args.model
    if args.backend:
        model["backend"] = args.backend
    if args.base_url and len(args.base_url) == 1:
        model["base_url"] = args.base_url[0]
    elif args.base_url:
        model["base_urls"] = args.base_url
    overrides: dict[str, object] = {"model": model} if model else {}
    serve: dict[str, object] = {}
    if args.serve:
        serve["checkpoint"] = args.serve
    if args.serve_command:
        serve["command"] = shlex.split(args.serve_command)
    if serve:
        overrides["serve"] = serve
    if args.base_url or args.serve or args.backend == "vllm":
        overrides["mock_teacher"] = None  # a model named here is the one evaluated, not the mock
    return overrides


def suite_sets(args: argparse.Namespace) -> list[str]:
    """``--set`` assignments, with ``--limit`` (each benchmark's) and ``--output`` as the keys
    they stand for."""
    sets = list(args.set)
    if args.limit is not None:
        sets.append(f"benchmarks.*.data.limit={args.limit}")
    if args.output is not None:
        sets.append(f"output.dir={json.dumps(args.output)}")
    return sets


def summary(results: Results) -> str:
    lines = [
        f"{'benchmark':<16} {'n':>3} {'questions':>9} {'avg@n %':>8} {'± s.e.':>6} "
        f"{'95% interval':>14} {'pass@n %':>8} {'maj@n %':>7} {'trunc %':>7} {'tokens':>7}"
    ]
    for b in results.benchmarks:
        avg = b.avg
        interval = f"[{100 * avg.low:.1f}, {100 * avg.high:.1f}]" if avg else "-"
        passed = f"{100 * b.pass_at_k[-1]:.1f}" if b.pass_at_k else "-"
        maj = f"{100 * b.maj:.1f}" if b.maj is not None else "-"
        lines.append(
            f"{b.name:<16} {b.n:>3} {b.questions_scored:>4}/{b.questions:<4} "
            f"{100 * avg.mean if avg else 0:>8.1f} {100 * avg.stderr if avg else 0:>6.1f} "
            f"{interval:>14} {passed:>8} {maj:>7} {100 * b.truncation_rate:>7.1f} "
            f"{b.length.mean:>7.0f}"
            + ("" if b.complete else f"  incomplete ({b.samples}/{b.samples_expected} samples)")
            + (f"  unscored {b.unscored}" if b.unscored else "")
        )
    return "\n".join(lines)


def _report(directory: Path) -> Results:
    """Compute, write and print results.json and report.html for ``directory``."""
    from engine.eval.report import write_report

    results = compute_results(directory)
    json_path = write_results(directory, results)
    html_path = write_report(directory, results)
    print(summary(results))
    print(f"results {json_path}\nreport  {html_path}", flush=True)
    return results


async def _progress(runner: EvalRun, every: float) -> None:
    """Live progress on stderr: the running benchmark's counters."""
    tty = sys.stderr.isatty()
    total = len(runner.suite.benchmarks)
    while True:
        await asyncio.sleep(every if tty else 10 * every)
        if runner.current is not None:
            position, benchmark, job = runner.current
            line = f"[{position + 1}/{total} {benchmark.name}] {job.metrics.progress_line()}"
            print(line, end="\r" if tty else "\n", file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace) -> int:
    suite = load_suite(args.suite, _overrides(args), suite_sets(args))
    directory = Path(suite.output.dir)
    try:
        runner = EvalRun(suite, directory, allow_recipe_change=args.allow_recipe_change)
    except ConfigError as error:
        raise ConfigError(f"{Path(args.suite).name}: {error}") from None
    progress = None if args.quiet else asyncio.ensure_future(_progress(runner, 1.0))
    try:
        code = await runner.run()
    except ServeError as error:
        print(f"error: serve: {error}", file=sys.stderr)
        return Exit.FAILED
    finally:
        if progress is not None:
            progress.cancel()
            print(file=sys.stderr)
    if code != Exit.OK:
        return code
    if not runner.finished:
        print(f"stopped: {directory} kept; run the same command again to resume", flush=True)
        return code
    _report(directory)
    return code


def cmd_eval(args: argparse.Namespace) -> int:
    if args.suite is None:
        print("error: eval: give --suite SUITE.toml, or `eval report` / `eval compare`",
              file=sys.stderr)  # fmt: skip
        return Exit.USAGE
    return run(_run(args))


def cmd_report(args: argparse.Namespace) -> int:
    directory = Path(args.outdir)
    require_manifest(directory)
    results = _report(directory)
    if args.json:
        print(msgspec.json.encode(results).decode())
    return Exit.OK


def cmd_compare(args: argparse.Namespace) -> int:
    a, b = Path(args.a), Path(args.b)
    comparison = compare(compute_results(a), compute_results(b))
    print(msgspec.json.encode(comparison).decode() if args.json else table(comparison))
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model on a suite of benchmarks (report, compare)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suite", help="eval suite TOML file")
    p.add_argument("--model", help="model name (backend vllm: the checkpoint directory)")
    p.add_argument("--base-url", action="append", help="OpenAI-compatible URL; repeat for replicas")
    p.add_argument("--backend", choices=["openai", "vllm"], help="engine backend")
    p.add_argument("--serve", metavar="CHECKPOINT", help="start an OpenAI server on CHECKPOINT")
    p.add_argument("--serve-command",
                   help="server command, {python} {checkpoint} {port} filled in "
                   "(default: the suite's serve.command, vLLM's OpenAI server)")  # fmt: skip
    p.add_argument("--allow-recipe-change", action="store_true",
                   help="add samples under a changed model, prompt, sampling or data")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    add_override_options(p, limit_help="evaluate at most N questions of each benchmark")
    p.set_defaults(handler=cmd_eval)
    commands = p.add_subparsers(dest="eval_command")

    r = commands.add_parser("report", help="recompute results.json and report.html")
    r.add_argument("outdir", help="the output directory of an eval")
    r.add_argument("--json", action="store_true", help="also print results.json")
    r.set_defaults(handler=cmd_report)

    c = commands.add_parser("compare", help="per-benchmark differences with a paired test")
    c.add_argument("a", help="the output directory of the first eval")
    c.add_argument("b", help="the output directory of the second eval")
    c.add_argument("--json", action="store_true", help="the comparison as JSON")
    c.set_defaults(handler=cmd_compare)
