"""What an export does: format, files, filters and length policy (CLI flags or ``[export]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from engine.answer_filter import AnswerPolicy
from engine.config import decode
from engine.errors import ConfigError
from engine.export.formats import FileType, Format
from engine.export.lengths import OverCutoff
from engine.records import Domain
from engine.specs import Spec
from engine.tomlfile import read_toml


class ExportError(ConfigError):
    """The export cannot run or read its input; the message names the file."""


class ExportSpec(Spec):
    """answer_filter: one policy for all domains or one per domain (a domain not listed: none);
    ``passed`` exports passed samples only. keep_truncated: also export completions cut at
    max_tokens (an unfinished trace teaches stopping mid-thought). recipes: ``current`` exports
    only samples made by the manifest's recipe, ``all`` also those of earlier recipes (for a
    (question, sample index) made by both, the first in shard order). Failures never export.

    preset: the training preset (engine.train.presets) whose model's tokenizer measures the
    traces, whose cutoff_len is the default cutoff, and whose settings fill the training config
    written beside the data (for ``nodes`` x ``gpus_per_node``). tokenizer: measure with this
    tokenizer instead, and fail if it cannot be loaded (the preset's model falls back to an
    estimate). over_cutoff: see engine.export.lengths."""

    format: Format = "messages"
    files: FileType = "parquet"
    answer_filter: AnswerPolicy | dict[Domain, AnswerPolicy] = "none"
    keep_truncated: bool = False
    recipes: Literal["current", "all"] = "current"
    preset: str = "ot3-7b"
    tokenizer: str | None = None
    cutoff_len: Annotated[int, msgspec.Meta(gt=0)] | None = None
    over_cutoff: OverCutoff = "drop"
    nodes: Annotated[int, msgspec.Meta(gt=0)] = 1
    gpus_per_node: Annotated[int, msgspec.Meta(ge=0)] = 8
    name: str = "train"
    shard_records: Annotated[int, msgspec.Meta(gt=0)] = 100_000

    def policy(self, domain: str) -> AnswerPolicy:
        if isinstance(self.answer_filter, str):
            return self.answer_filter
        return self.answer_filter.get(domain, "none")  # type: ignore[call-overload]


def load_export_section(path: Path) -> dict[str, object]:
    """The ``[export]`` table of a TOML file (a recipe or an export config); {} if it has none."""
    section = read_toml(path).get("export", {})
    if not isinstance(section, dict):
        raise ExportError(f"{path}: export: expected a table")
    return section


class _Section(Spec):
    export: ExportSpec


def export_spec(values: dict[str, object], source: str = "<export>") -> ExportSpec:
    """Validate export settings; errors name the source and the key (``export.format: ..``)."""
    return decode({"export": values}, _Section, source).export
