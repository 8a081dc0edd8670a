"""JSON Lines rows (plain or zstd-compressed), streamed one line at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from engine.sources.errors import Unreadable
from engine.sources.files import FileRows, open_binary

BOM = b"\xef\xbb\xbf"


class JsonlRows(FileRows):
    """Yields ``(line number, row)`` for each non-blank line, ``Unreadable`` for a line that is
    not JSON, nests too deeply or is longer than ``max_bytes`` (read past, never held whole).
    A UTF-8 byte-order mark before the first line is skipped."""

    def _lines(self) -> Iterator[tuple[int, bytes | None]]:
        """``(number, line)`` for each non-blank line; ``line`` None when it is too long."""
        limit = self.max_bytes
        with open_binary(self.path) as stream:
            number = 0
            while line := stream.readline(limit + 1):
                number += 1
                if number == 1 and line.startswith(BOM):
                    line = line[len(BOM) :]
                if len(line) > limit and not line.endswith(b"\n"):
                    while (rest := stream.readline(limit + 1)) and not rest.endswith(b"\n"):
                        pass
                    yield number, None
                elif not line.isspace() and line:
                    yield number, line

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        decode = msgspec.json.Decoder().decode
        for number, line in self._lines():
            if line is None:
                row: Any = Unreadable(f"line longer than max_row_bytes ({self.max_bytes})")
            else:
                try:
                    row = decode(line)
                except msgspec.DecodeError as error:
                    row = Unreadable(f"invalid JSON: {error}")
                except RecursionError:
                    row = Unreadable("invalid JSON: nested too deeply to decode")
            yield number, row

    def count(self) -> int:
        """Non-blank lines, without decoding them."""
        return sum(1 for _ in self._lines())
