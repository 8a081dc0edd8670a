"""A configured source as a stream of Questions: pick the readers, map rows, name bad rows."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import pyarrow
import zstandard

from engine.records import Question
from engine.sources.errors import SourceError, Unreadable
from engine.sources.fields import FieldError, RowMapper
from engine.sources.files import FileRows, data_suffix
from engine.sources.hf import HfRows, hf_available
from engine.sources.intake import Intake
from engine.sources.json_array import JsonArrayRows
from engine.sources.jsonl import JsonlRows
from engine.sources.parquet import ParquetRows
from engine.specs import SourceSpec

log = logging.getLogger(__name__)

_READ_ERRORS = (OSError, UnicodeDecodeError, zstandard.ZstdError, pyarrow.ArrowException)
READERS = {"jsonl": JsonlRows, "json": JsonArrayRows, "parquet": ParquetRows}
SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}


class RowReader(Protocol):
    origin: str  # the file or dataset, for messages
    unit: str  # what ``where`` counts: "line" or "row"

    def __iter__(self) -> Iterator[tuple[int, Any]]: ...


def _format_of(path: Path, declared: str) -> str:
    if declared != "auto":
        return declared
    try:
        return SUFFIX_FORMATS[data_suffix(path)]
    except KeyError:
        known = ", ".join(SUFFIX_FORMATS)
        raise SourceError(f"{path}: unknown format (known: {known}, optionally .zst)") from None


def local_files(spec: SourceSpec) -> list[Path]:
    """The files a local path names: the file, a folder's data files, or a glob's matches."""
    assert spec.path is not None
    path = Path(spec.path).expanduser()
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file() and data_suffix(f) in SUFFIX_FORMATS]
    elif glob.has_magic(spec.path):
        files = [Path(f) for f in glob.glob(str(path), recursive=True) if Path(f).is_file()]
    else:
        files = [path] if path.is_file() else []
    return sorted(files)


class Source:
    """Iterating yields the source's Questions in file order, at most ``spec.limit`` of them.

    With an ``intake`` (the job's question sources), ids are admitted once per job and skipped
    bad rows are handed to it; without one (benchmarks), a skipped bad row is only logged.
    """

    def __init__(self, spec: SourceSpec, intake: Intake | None = None) -> None:
        self.spec = spec
        self.intake = intake
        self._map = RowMapper(spec)

    def readers(self) -> Iterator[RowReader]:
        spec = self.spec
        if spec.hf:
            if hf_available():
                hub = HfRows(spec.hf, spec.hf_config, spec.split, spec.data_files)
                try:
                    hub.load()
                except SourceError as error:
                    if not spec.path:
                        raise
                    log.warning("%s; reading the local copy %s instead", error, spec.path)
                else:
                    yield hub
                    return
            elif not spec.path:
                raise SourceError(
                    f"source {spec.name!r}: hf dataset {spec.hf!r} needs the `datasets` package"
                    " (pip install datasets), or set path to a local copy"
                )
        readers = self.file_readers()
        if not readers:
            log.warning("optional source %r: no data files at %s; skipped", spec.name, spec.path)
        yield from readers

    def file_readers(self) -> list[FileRows]:
        """A reader per local data file; none is an error unless the source is optional."""
        spec = self.spec
        files = local_files(spec)
        if not files and not spec.optional:
            raise SourceError(f"source {spec.name!r}: no data files at {spec.path}")
        return [self._reader(file) for file in files]

    def _reader(self, file: Path) -> FileRows:
        return READERS[_format_of(file, self.spec.format)](file, self.spec.max_row_bytes)

    def _questions(self) -> Iterator[Question]:
        for reader in self.readers():
            try:
                yield from self._read(reader)
            except _READ_ERRORS as error:  # the file itself, not one row
                raise SourceError(f"{reader.origin}: cannot read: {error}") from None

    def _read(self, reader: RowReader) -> Iterator[Question]:
        intake = self.intake
        for where, row in reader:
            try:
                if isinstance(row, Unreadable):
                    raise FieldError(row.detail)
                question = self._map(row)
            except FieldError as error:
                self._bad_row(reader, where, str(error))
                continue
            if intake is None or intake.admit(question, reader.origin, where):
                yield question

    def _bad_row(self, reader: RowReader, where: int, detail: str) -> None:
        """Apply ``on_bad_row``: stop with the place named, or hand the row on and go on."""
        if self.spec.on_bad_row == "error":
            raise SourceError(f"{reader.origin}, {reader.unit} {where}: {detail}")
        if self.intake is not None:
            self.intake.bad_row(self.spec, reader.origin, where, detail)
        else:
            log.warning("%s, %s %s: %s; skipped", reader.origin, reader.unit, where, detail)

    def __iter__(self) -> Iterator[Question]:
        return islice(self._questions(), self.spec.limit)

    def count(self) -> int:
        """How many Questions a local source yields, from its files' row counts (rows are not
        decoded or mapped, so this is quick)."""
        total = sum(reader.count() for reader in self.file_readers())
        return total if self.spec.limit is None else min(total, self.spec.limit)
