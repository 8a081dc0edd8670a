"""JSON Lines rows (plain or zstd-compressed), streamed one line at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from engine.sources.errors import SourceError
from engine.sources.files import FileRows, open_binary


class JsonlRows(FileRows):
    """Yields ``(line number, row)`` for each non-blank line; a bad line raises SourceError."""

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        decode = msgspec.json.Decoder().decode
        with open_binary(self.path) as stream:
            for number, line in enumerate(stream, start=1):
                if line.isspace():
                    continue
                try:
                    yield number, decode(line)
                except msgspec.DecodeError as error:
                    where = f"{self.path}, line {number}"
                    raise SourceError(f"{where}: invalid JSON: {error}") from None

    def count(self) -> int:
        """Non-blank lines, without decoding them."""
        with open_binary(self.path) as stream:
            return sum(1 for line in stream if not line.isspace())
