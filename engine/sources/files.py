"""Local data files: streams that decompress ``.zst`` on the fly, and the base of file readers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import zstandard


def open_binary(path: Path) -> BinaryIO:
    """A buffered binary stream of the file's (decompressed) bytes; never reads it whole."""
    raw = path.open("rb")
    if path.suffix != ".zst":
        return raw
    reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True, read_across_frames=True)
    return io.BufferedReader(reader, buffer_size=1 << 20)


def data_suffix(path: Path) -> str:
    """The suffix naming the data format, under any compression suffix: a.jsonl.zst -> .jsonl."""
    return Path(path.stem).suffix if path.suffix == ".zst" else path.suffix


class FileRows:
    """Base of the per-format readers: iterating yields ``(where, row)``, ``where`` counting
    ``unit``s ("line" or "row") from 1, for messages that point into the file. A row longer
    than ``max_bytes`` is not decoded (readers of text formats)."""

    unit = "line"

    def __init__(self, path: Path, max_bytes: int = 64 << 20) -> None:
        self.path = path
        self.origin = str(path)
        self.max_bytes = max_bytes

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def count(self) -> int:
        """How many rows iterating yields (readers override this with something cheaper)."""
        return sum(1 for _ in self)
