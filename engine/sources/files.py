"""Open a local file as a binary stream, decompressing ``.zst`` on the fly."""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

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
