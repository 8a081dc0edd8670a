"""The persisted top-N selection: one sealed shard, ``NAME_selection-HASH.jsonl.zst``, written by
the shard writer and renamed into place whole, so a restart loads it instead of selecting again."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from engine.records import Question
from engine.specs import OutputSpec
from engine.storage import shards
from engine.storage.outcomes import Outcome
from engine.storage.reader import RecordError, read_records

_encode = msgspec.json.Encoder().encode


class SelectionError(Exception):
    """A saved selection that cannot be read back whole; the message names the file."""


def selection_path(directory: Path, name: str, curation_hash: str) -> Path:
    return directory / f"{name}_selection-{curation_hash}{shards.SUFFIX}"


async def save_selection(path: Path, questions: Iterable[Question], spec: OutputSpec) -> int:
    """Write the questions to ``path`` as one shard (a stale ``.part`` from a crash is replaced);
    returns how many."""
    path.with_name(path.name + shards.PART).unlink(missing_ok=True)
    whole = msgspec.structs.replace(spec, shard_records=sys.maxsize, shard_bytes=sys.maxsize)
    writer = shards.ShardWriter(whole, lambda: path)
    count = 0
    for question in questions:
        outcome = Outcome.of_question(question.domain, None)
        await writer.write(_encode(question) + b"\n", None, outcome)
        count += 1
    await writer.close(seal_empty=True)  # an empty selection is still a selection
    return count


def load_selection(path: Path) -> Iterator[Question] | None:
    """The saved questions in saved order, or None when no selection was saved yet."""
    if not path.exists():
        return None
    index = shards.read_index(path)
    if index is None:
        raise SelectionError(f"{path}: not a sealed selection file (no index footer)")
    return _read(path, index.records)


def _read(path: Path, expected: int) -> Iterator[Question]:
    count = 0
    try:
        for question in read_records([path], Question):
            count += 1
            yield question
    except RecordError as error:
        raise SelectionError(str(error)) from None
    if count != expected:
        raise SelectionError(f"{path}: {count} records readable, the index says {expected}")
