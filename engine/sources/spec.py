"""Config of a question source: where its rows are, how their fields map onto a Question."""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.records import Domain

Format = Literal["auto", "jsonl", "json", "parquet"]


class SourceError(ValueError):
    """A source cannot be read; the message names the file or dataset, line or row, and field."""


class FieldMap(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which row field feeds each Question field; dotted paths reach into nested values ("a.b").

    ``problem`` must be present in every row. ``answer``, ``tests`` and ``choices`` are read when
    the row has them. ``id``, when set, must be present; unset, ids derive from the problem text.
    ``choices`` may list several fields (e.g. GPQA's "Correct Answer", "Incorrect Answer 1", ...).
    ``metadata`` fields are copied into Question.metadata when present.
    """

    problem: str = "problem"
    answer: str | None = "answer"
    tests: str | None = "tests"
    choices: str | list[str] | None = "choices"
    id: str | None = None
    metadata: list[str] = []


class SourceSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One question source.

    ``path``: a file (.jsonl, .jsonl.zst, .json array, .json.zst, .parquet), a folder of such files
    or a glob. ``hf``: a Hugging Face dataset read with ``datasets.load_dataset`` (streaming) when
    that package is installed; if it is missing or the hub is unreachable, ``path`` (a local copy)
    is read instead when given. ``weight`` sets the source's share in mixing; ``limit`` caps the
    questions read. ``optional``: a missing path yields no questions (with a warning) instead of
    an error.
    """

    name: str
    domain: Domain
    path: str | None = None
    hf: str | None = None
    hf_config: str | None = None
    split: str = "train"
    format: Format = "auto"
    fields: FieldMap = msgspec.field(default_factory=FieldMap)
    tags: list[str] = []
    weight: float = 1.0
    limit: int | None = None
    optional: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("source name must not be empty")
        if not self.path and not self.hf:
            raise ValueError(f"source {self.name!r}: set path or hf")
        if self.weight <= 0:
            raise ValueError(f"source {self.name!r}: weight must be > 0, got {self.weight}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"source {self.name!r}: limit must be >= 0, got {self.limit}")
