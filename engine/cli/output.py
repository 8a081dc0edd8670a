"""``status`` and ``cat``: an output directory read from its shards alone."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import msgspec

from engine.errors import ConfigError
from engine.exits import Exit
from engine.storage import shards
from engine.storage.output import summarize


def output_dir(path: str) -> Path:
    directory = Path(path)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such output directory")
    return directory


def cmd_status(args: argparse.Namespace) -> int:
    streams = summarize(output_dir(args.outdir))
    if args.json:
        print(msgspec.json.encode(streams).decode())
        return Exit.OK
    for name, summary in streams.items():
        print(
            f"{name}: {summary.records} records, {summary.questions} questions, "
            f"{summary.shards} closed shards, {summary.open_parts} open"
        )
        for outcome, count in sorted(summary.outcomes.items(), key=lambda kv: -kv[1]):
            print(f"  {outcome:<32} {count}")
    return Exit.OK


def cmd_cat(args: argparse.Namespace) -> int:
    directory = output_dir(args.outdir)
    out = sys.stdout.buffer
    with contextlib.suppress(BrokenPipeError):
        for path in shards.list_shards(directory, args.name):
            for line in shards.iter_lines(path):
                out.write(line + b"\n")
        out.flush()
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="counts from an output directory alone")
    p.add_argument("outdir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("cat", help="stream the records of an output directory as JSON lines")
    p.add_argument("outdir")
    p.add_argument("--name", default=None, help="only shards of this job name")
    p.set_defaults(handler=cmd_cat)
