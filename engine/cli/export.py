"""``export``: an output directory's samples as training data."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from engine.cli.loop import run
from engine.exits import Exit


def cmd_export(args: argparse.Namespace) -> int:
    from engine.export import ExportSpec, export

    spec = ExportSpec(
        answer_filter=args.answer_filter,
        keep_truncated=args.keep_truncated,
        skip_damaged=args.skip_damaged,
        name=args.name,
    )
    report = run(export(Path(args.outdir), Path(args.dest), spec))
    print(msgspec.json.format(msgspec.json.encode(report)).decode())
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="training export: ShareGPT conversations + OpenAI messages")
    p.add_argument("outdir")
    p.add_argument("dest")
    p.add_argument("--answer-filter", choices=["none", "passed", "majority"], default="none")
    p.add_argument("--keep-truncated", action="store_true")
    p.add_argument(
        "--skip-damaged",
        action="store_true",
        help="export the readable records of damaged shards (default: stop, exit 1)",
    )
    p.add_argument("--name", default="train")
    p.set_defaults(handler=cmd_export)
