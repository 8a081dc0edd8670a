"""The one typed reader of shards: every record of a stream decoded into its Struct, with one
error style (the shard and record number named)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import msgspec

from engine.storage import shards

T = TypeVar("T")


class RecordError(ValueError):
    """A record that cannot be decoded as its type; the message names the shard and record."""


def read_records(paths: Iterable[Path], kind: type[T]) -> Iterator[T]:
    """Every record of the shards at ``paths`` (closed or ``.part``), in order, as ``kind``."""
    decode = msgspec.json.Decoder(kind).decode
    for path in paths:
        for number, line in enumerate(shards.iter_lines(path), 1):
            try:
                yield decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                raise RecordError(f"{path}: record {number}: {error}") from None


def read_stream(directory: Path, name: str, kind: type[T]) -> Iterator[T]:
    """Every record of the stream ``name`` (``NAME-{worker}-{seq}`` shards) in ``directory``."""
    return read_records(shards.list_shards(directory, name), kind)
