"""``export``: an output directory's samples as a training data set (bad input: a ConfigError,
one line and exit 2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

import msgspec

from engine.exits import Exit

# ExportSpec fields with a flag; a flag on the command line beats the config's [export] value
_FIELDS = (
    "format", "files", "answer_filter", "keep_truncated", "preset", "tokenizer", "cutoff_len",
    "over_cutoff", "nodes", "gpus_per_node", "name", "skip_damaged",
)  # fmt: skip


def cmd_export(args: argparse.Namespace) -> int:
    from engine.export import ExportError, export, export_spec, load_export_section

    values = load_export_section(Path(args.config)) if args.config else {}
    given = {field: getattr(args, field) for field in _FIELDS}
    values |= {field: value for field, value in given.items() if value is not None}
    spec = export_spec(values, args.config or "command line")
    if not Path(args.outdir).is_dir():
        raise ExportError(f"{args.outdir}: no such output directory")
    report = export(Path(args.outdir), Path(args.dest), spec)
    print(msgspec.json.format(msgspec.json.encode(report)).decode())
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    from engine.specs import ExportFiles, ExportFormat, OverCutoff

    p = sub.add_parser(
        "export",
        help="training data set: LLaMA-Factory, TRL, ShareGPT or OpenAI messages",
        description="Export an output directory's samples to DEST (absent or empty). Flags "
        "override the [export] section of --config; the report is printed and kept in "
        "DEST/export.json.",
    )
    p.add_argument("outdir", help="the output directory of a job")
    p.add_argument("dest", help="the export directory to make (absent or empty)")
    p.add_argument("--config", help="a TOML file (a recipe or export config) with [export]")
    p.add_argument("--format", choices=get_args(ExportFormat), help="default: messages")
    p.add_argument("--files", choices=get_args(ExportFiles), help="data files (default: parquet)")
    p.add_argument("--answer-filter", choices=["none", "passed", "majority"],
                   help="which samples to keep: all (default), the passed ones, or "
                   "those with the majority answer")  # fmt: skip
    p.add_argument("--keep-truncated", action="store_true", default=None,
                   help="also export completions cut at max_tokens")  # fmt: skip
    p.add_argument("--preset", help="training preset or preset .toml (default: ot3-7b)")
    p.add_argument("--tokenizer", help="measure lengths with this tokenizer (path or hub name)")
    p.add_argument("--cutoff-len", type=int, help="default: the preset's")
    p.add_argument("--over-cutoff", choices=get_args(OverCutoff), help="default: drop")
    p.add_argument("--nodes", type=int, help="training config written beside the data")
    p.add_argument("--gpus-per-node", type=int, help="for the training config (default: 8)")
    p.add_argument("--name", help="data file stem (default: train)")
    p.add_argument("--skip-damaged", action="store_true", default=None,
                   help="export what damaged shards still hold (else: exit 1)")  # fmt: skip
    p.set_defaults(handler=cmd_export)
