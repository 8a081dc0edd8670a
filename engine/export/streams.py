"""Read one stream of an output directory with ``datasets``, typed from its record Struct.

``datasets.load_dataset("json", data_files=...)`` infers the columns from the first 10 MB of
the first file and casts every later file to them, so a field that is null throughout that
chunk (``failure`` in a shard without failures, ``mcq_key`` without science samples) becomes a
null column and the first file that has a value fails with a cast error. The record Structs
know every type, so the features passed here come from them: ``load_stream(OUTDIR, NAME)``
reads samples, ``NAME_excluded``, ``NAME_scored`` and ``NAME_selection-HASH`` alike. Fields
whose values have no single Arrow type (code ``tests``, ``metadata``, an exclusion ``reason``,
a union of Structs) are ``datasets.Json`` columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msgspec import inspect

from engine.records import Excluded, Question, Sample
from engine.storage import shards


def record_type(stream: str) -> type:
    """The Struct of a stream's records, by its name's suffix."""
    if stream.endswith("_excluded"):
        return Excluded
    if stream.endswith(("_scored", "_selection")):
        return Question
    return Sample


def features(record: type) -> Any:
    """``datasets.Features`` of a msgspec Struct."""
    import datasets

    def feature(info: inspect.Type) -> Any:
        if isinstance(info, inspect.Metadata):
            return feature(info.type)
        if isinstance(info, inspect.UnionType):
            present = [t for t in info.types if not isinstance(t, inspect.NoneType)]
            return feature(present[0]) if len(present) == 1 else datasets.Json()
        if isinstance(info, inspect.StructType):
            return {field.encode_name: feature(field.type) for field in info.fields}
        if isinstance(info, inspect.ListType):
            return datasets.List(feature(info.item_type))
        for kind, name in _SCALARS:
            if isinstance(info, kind):
                return datasets.Value(name)
        return datasets.Json()

    return datasets.Features(feature(inspect.type_info(record)))


_SCALARS = (
    (inspect.BoolType, "bool"),
    (inspect.IntType, "int64"),
    (inspect.FloatType, "float64"),
    (inspect.StrType, "string"),
    (inspect.LiteralType, "string"),
)


def stream_files(outdir: Path, stream: str) -> list[str]:
    """A stream's closed shards (and its selection file), in order."""
    files = [p for p in shards.list_shards(outdir, stream) if not p.name.endswith(shards.PART)]
    if stream.endswith("_selection"):
        files = sorted(outdir.glob(f"{stream}-*.jsonl.zst"))
    return [str(path) for path in files]


def load_stream(outdir: str | Path, stream: str, **kwargs: Any) -> Any:
    """One stream as a ``datasets.Dataset``; ``kwargs`` go to ``load_dataset``."""
    import datasets

    files = stream_files(Path(outdir), stream)
    if not files:
        raise FileNotFoundError(f"{outdir}: no closed shards of stream {stream!r}")
    return datasets.load_dataset(
        "json", data_files=files, features=features(record_type(stream)), split="train", **kwargs
    )
