"""Parquet rows, read one record batch at a time (pyarrow reads row group by row group)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow
import pyarrow.parquet

from engine.sources.errors import SourceError
from engine.sources.files import FileRows

BATCH_ROWS = 4096


class ParquetRows(FileRows):
    """Yields ``(row number, row as dict)``, counting rows from 1 across the file."""

    unit = "row"

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        number = 0
        with self._open() as table:
            for batch in table.iter_batches(batch_size=BATCH_ROWS):
                for row in batch.to_pylist():
                    number += 1
                    yield number, row

    def count(self) -> int:
        """From the file's metadata."""
        with self._open() as table:
            return table.metadata.num_rows

    def _open(self) -> pyarrow.parquet.ParquetFile:
        try:
            return pyarrow.parquet.ParquetFile(self.path)
        except pyarrow.ArrowException as error:
            raise SourceError(f"{self.path}: not a readable Parquet file: {error}") from None
