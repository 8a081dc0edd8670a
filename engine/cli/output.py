"""``status``, ``cat`` and ``verify``: an output directory read from its shards alone (no lock:
they run beside a job). A damaged shard is reported (file, frame, records lost) and makes them
exit 1, unless ``--skip-damaged``; ``run`` quarantines it and makes the lost records again."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import msgspec

from engine.errors import ConfigError
from engine.exits import Exit
from engine.storage.reader import open_shards, read_lines, strict
from engine.storage.status import Status, output_status
from engine.storage.verify import Damage, verify_output


def output_dir(path: str) -> Path:
    directory = Path(path)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such output directory")
    return directory


def _reported(damaged: list[Damage], skip: bool) -> int:
    """Report each damaged shard on stderr; the exit code they make."""
    for damage in damaged:
        print(f"{'warning' if skip else 'error'}: {damage}", file=sys.stderr)
    if damaged and not skip:
        print("error: pass --skip-damaged to read past damaged shards", file=sys.stderr)
        return Exit.FAILED
    return Exit.OK


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def status_text(status: Status) -> str:
    """``status`` for a reader: the state first, then the samples, then each stream."""
    head = f"{status.directory}: {status.state}"
    head += f" (job {status.name})" if status.name else ""
    head += f", written by {status.holder}" if status.holder else ""
    total = status.samples_total
    done = f"samples {status.samples}"
    if total is not None:
        done += f" of {total} ({100 * status.samples / total:.1f}%)" if total else " of 0"
    if status.questions_total is not None:
        done += f", {status.questions_total} questions read"
    lines = [head, done]
    lines.append(f"  by domain:  {_counts(status.domains) or '-'}")
    lines.append(f"  by verdict: {_counts(status.verdicts) or '-'}")
    lines.append(f"  failures:   {_counts(status.failures) or 'none'}")
    cost = sum(usage.cost_usd for usage in status.usage.values())
    lines.append(
        f"  cost:       ${cost:.4f}"
        + "".join(
            f", {model} ${u.cost_usd:.4f} ({u.prompt_tokens} in, {u.completion_tokens} out)"
            for model, u in sorted(status.usage.items())
        )
    )
    for name, summary in status.streams.items():
        lines.append(
            f"{name}: {summary.records} records, {summary.questions} questions, "
            f"{summary.shards} closed shards, {summary.open_parts} open"
            + (f", {summary.superseded} failed attempts retried" if summary.superseded else "")
            + (f", {len(summary.damaged)} DAMAGED" if summary.damaged else "")
        )
        for outcome, count in sorted(summary.outcomes.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {outcome:<32} {count}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    status = output_status(Path(args.outdir))
    print(msgspec.json.encode(status).decode() if args.json else status_text(status))
    damaged = [damage for summary in status.streams.values() for damage in summary.damaged]
    return _reported(damaged, args.skip_damaged)


def cmd_cat(args: argparse.Namespace) -> int:
    directory = output_dir(args.outdir)
    out = sys.stdout.buffer
    skipped: list[Damage] = []
    with contextlib.suppress(BrokenPipeError):
        on_damage = skipped.append if args.skip_damaged else strict
        for line in read_lines(open_shards(directory, args.name), on_damage):
            out.write(line + b"\n")
        out.flush()
    return _reported(skipped, skip=True)


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify_output(output_dir(args.outdir))
    if args.json:
        print(msgspec.json.encode(report).decode())
    else:
        for line in [*map(str, report.damaged), *report.problems]:
            print(line)
        lost = sum(damage.lost or 0 for damage in report.damaged)
        unknown = sum(damage.lost is None for damage in report.damaged)
        verdict = (
            "clean"
            if report.clean
            else f"{len(report.damaged)} damaged shard(s), {lost} records lost"
            + (
                f" (and an unknown number in {unknown} shard(s) whose index is lost)"
                if unknown
                else ""
            )
        )
        verdict = "clean" if report.clean else verdict
        print(f"{report.directory}: {report.shards} shards, {report.records} records: {verdict}")
    return Exit.OK if report.clean else Exit.FAILED


def register(sub: argparse._SubParsersAction) -> None:
    skip = "report damaged shards as warnings and read the rest (exit 0)"
    p = sub.add_parser(
        "status",
        help="state (running, finished, interrupted, failed), total and counts of an output",
    )
    p.add_argument("outdir", help="the output directory of a job")
    p.add_argument("--json", action="store_true", help="the same fields as one JSON object")
    p.add_argument("--skip-damaged", action="store_true", help=skip)
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("cat", help="stream the records of an output directory as JSON lines")
    p.add_argument("outdir", help="the output directory of a job")
    p.add_argument("--name", default=None, help="only shards of this job name")
    p.add_argument("--skip-damaged", action="store_true", help=skip)
    p.set_defaults(handler=cmd_cat)

    p = sub.add_parser("verify", help="read every byte of an output: exit 0 clean, 1 damaged")
    p.add_argument("outdir", help="the output directory of a job")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    p.set_defaults(handler=cmd_verify)
