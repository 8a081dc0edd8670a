"""Rows of a Hugging Face dataset, streamed with ``datasets.load_dataset(..., streaming=True)``.

With ``data_files`` the named files of the dataset (a hub repo or a local folder) are read as
the split by ``datasets``' own format builder (json, parquet, csv), never through a loading
script: ``datasets`` 4 and later refuse to run scripts, and some benchmarks
(livecodebench/code_generation_lite) ship one beside their data files.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath
from typing import Any

from engine.sources.errors import SourceError

#: the ``datasets`` builder that reads a data file, by its suffix
BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def hf_available() -> bool:
    return importlib.util.find_spec("datasets") is not None


def resolve_data_files(name: str, files: Sequence[str]) -> tuple[str, list[str]]:
    """(builder, file locations) for ``files`` of dataset ``name``: paths in a local folder,
    ``hf://datasets/NAME/FILE`` on the hub. Raises ValueError for a format it cannot tell or
    files of several formats."""
    builders = set()
    for file in files:
        builder = BUILDERS.get(PurePosixPath(file).suffix)
        if builder is None:
            known = ", ".join(BUILDERS)
            raise ValueError(f"data_files: cannot tell the format of {file!r} (known: {known})")
        builders.add(builder)
    if len(builders) > 1:
        raise ValueError(f"data_files: files of several formats ({', '.join(sorted(builders))})")
    if os.path.isdir(name):
        return builders.pop(), [os.path.join(name, file) for file in files]
    return builders.pop(), [f"hf://datasets/{name}/{file}" for file in files]


class HfRows:
    """Yields ``(row number, row)``; load failures (offline, unknown name) raise SourceError."""

    unit = "row"

    def __init__(
        self, name: str, config: str | None, split: str, data_files: Sequence[str] = ()
    ) -> None:
        self.name, self.config, self.split = name, config, split
        self.data_files = list(data_files)
        self.origin = f"hf:{name}" + (f"/{config}" if config else "") + f"[{split}]"
        self._dataset: Any = None

    def load(self) -> None:
        """Resolve the dataset now, so an unreachable hub fails before any row is read."""
        import datasets

        try:
            if self.data_files:
                builder, files = resolve_data_files(self.name, self.data_files)
                self._dataset = datasets.load_dataset(
                    builder, data_files={self.split: files}, split=self.split, streaming=True
                )
            else:
                self._dataset = datasets.load_dataset(
                    self.name, self.config, split=self.split, streaming=True
                )
        except Exception as error:  # the hub client raises many unrelated types
            raise SourceError(f"{self.origin}: cannot load: {error}") from error

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self._dataset is None:
            self.load()
        yield from enumerate(self._dataset, start=1)
