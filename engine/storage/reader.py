"""The read side of an output: what ``status``, ``cat``, ``export``, eval and the barrier see.

Readers take no lock. They read sealed shards and the complete frames of ``.part`` files (a part
is indexed and read from the same valid prefix, even when it is sealed in between), and they
skip superseded records: the last record of a key wins, where a later record replaced an
earlier one by a retry (the indexes list both, so this costs no record reads).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import msgspec

from engine.storage import shards

T = TypeVar("T")


class RecordError(ValueError):
    """A record that cannot be decoded as its type; the message names the shard and record."""


class Summary(msgspec.Struct):
    """Counts of one stream of shards as readers see it (``status``): superseded records (the
    failed attempts a retry replaced) are counted apart, not in ``records`` or ``outcomes``."""

    shards: int = 0
    open_parts: int = 0
    records: int = 0
    questions: int = 0
    superseded: int = 0
    outcomes: dict[str, int] = {}


class Shard(msgspec.Struct):
    """A shard file and its index; ``end``: the valid prefix a ``.part`` was indexed from."""

    path: Path
    index: shards.ShardIndex
    end: int | None = None

    @property
    def stream(self) -> str:
        """The stream's name (a file outside every stream, like a selection: its own name)."""
        parsed = shards.parse_name(self.path.name)
        return parsed[0] if parsed else self.path.name

    @property
    def is_part(self) -> bool:
        return self.path.name.endswith(shards.PART)

    def lines(self) -> Iterator[bytes]:
        data = shards.read_bytes(self.path)
        payloads, _ = shards.valid_frames(data if self.end is None else data[: self.end])
        for payload in payloads:
            yield from payload.splitlines()


def open_shard(path: Path) -> Shard:
    """A shard with its index: a closed shard's from its footer, a part's (or a footer-less
    shard's) rebuilt from its complete frames."""
    if not path.name.endswith(shards.PART) and (index := shards.read_index(path)) is not None:
        return Shard(path, index)
    payloads, end = shards.valid_frames(shards.read_bytes(path))
    lines = (line for payload in payloads for line in payload.splitlines())
    return Shard(path, shards.index_from_lines(lines), end)


def open_shards(directory: Path, name: str | None = None) -> list[Shard]:
    """Every shard of the output (of the stream ``name``), in (name, worker, seq) order."""
    return [open_shard(path) for path in shards.list_shards(directory, name)]


def superseded(found: Iterable[Shard]) -> dict[Path, dict[int, str]]:
    """The records a later record of the same key replaced: shard -> position -> outcome.

    A retried record (``index.retried``) replaces the last failure of its key before it
    (``index.retry``); shards are taken in order, so the last record of a key wins."""
    last: dict[tuple[str, shards.Key], tuple[Path, int, str]] = {}
    skipped: dict[Path, dict[int, str]] = defaultdict(dict)
    for shard in found:
        stream = shard.stream
        for key in shard.index.retried:
            if (earlier := last.pop((stream, key), None)) is not None:
                path, position, outcome = earlier
                skipped[path][position] = outcome
        for entry in shard.index.retry:
            if entry.position >= 0:
                last[(stream, entry.key)] = (shard.path, entry.position, entry.outcome)
    return skipped


def counts(found: list[Shard]) -> tuple[int, Counter[str], int]:
    """Records and outcomes readers see, and how many were superseded."""
    skipped = superseded(found)
    outcomes: Counter[str] = Counter()
    records = 0
    for shard in found:
        outcomes.update(shard.index.outcomes)
        records += shard.index.records
    gone = 0
    for positions in skipped.values():
        outcomes.subtract(positions.values())
        gone += len(positions)
    return records - gone, +outcomes, gone


def summarize(directory: Path) -> dict[str, Summary]:
    """Every stream's counts from its shard indexes (torn ``.part`` files by their valid
    frames); changes nothing on disk."""
    streams: dict[str, list[Shard]] = defaultdict(list)
    for shard in open_shards(directory):
        streams[shard.stream].append(shard)
    summaries = {}
    for name in sorted(streams):
        found = streams[name]
        records, outcomes, gone = counts(found)
        parts = sum(shard.is_part for shard in found)
        questions = {key[0] for shard in found for key in shard.index.keys}
        summaries[name] = Summary(
            len(found) - parts, parts, records, len(questions), gone, dict(outcomes)
        )
    return summaries


def _visible(found: list[Shard]) -> Iterator[tuple[Shard, int, bytes]]:
    skipped = superseded(found)
    for shard in found:
        skip = skipped.get(shard.path, {})
        for position, line in enumerate(shard.lines()):
            if position not in skip:
                yield shard, position, line


def read_lines(found: list[Shard]) -> Iterator[bytes]:
    """Every record line readers see, in shard order, superseded records skipped."""
    return (line for _, _, line in _visible(found))


def read_records(found: list[Shard], kind: type[T]) -> Iterator[T]:
    """Every record readers see, decoded as ``kind``."""
    decode = msgspec.json.Decoder(kind).decode
    for shard, position, line in _visible(found):
        try:
            yield decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise RecordError(f"{shard.path}: record {position + 1}: {error}") from None


def read_stream(directory: Path, name: str, kind: type[T]) -> Iterator[T]:
    """Every record of the stream ``name`` (``NAME-{worker}-{seq}`` shards) in ``directory``."""
    return read_records(open_shards(directory, name), kind)
