"""The read side of an output: what ``status``, ``cat``, ``verify``, export, eval and the barrier
see.

Readers take no lock. They read sealed shards and the complete frames of ``.part`` files (a part
is indexed and read from the same valid prefix, even when it is sealed in between); every frame
they read is checked (engine.storage.verify), and a damaged shard raises ``DamagedShard`` unless
the reader was told to skip damage (it is then reported through ``on_damage``). They skip
superseded records: the last record of a key wins, where a later record replaced an earlier one
by a retry (the indexes list both, so this costs no record reads).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import msgspec

from engine.storage import shards, verified
from engine.storage.verify import Check, Damage, DamagedShard, check_file

T = TypeVar("T")

OnDamage = Callable[[Damage], None]


ShardFilter = Callable[["Shard"], bool]


def strict(damage: Damage) -> None:
    raise DamagedShard(damage)


class RecordError(ValueError):
    """A record that cannot be decoded as its type; the message names the shard and record."""


class Summary(msgspec.Struct):
    """Counts of one stream of shards as readers see it (``status``): superseded records (the
    failed attempts a retry replaced) are counted apart, not in ``records`` or ``outcomes``;
    a damaged shard counts the records it still holds."""

    shards: int = 0
    open_parts: int = 0
    records: int = 0
    questions: int = 0
    superseded: int = 0
    outcomes: dict[str, int] = {}
    damaged: list[Damage] = []


class Shard(msgspec.Struct):
    """A shard file and its index; ``end``: the valid prefix a ``.part`` was indexed from;
    ``damage``: found when it was opened with a check (or by the last full read)."""

    path: Path
    index: shards.ShardIndex
    end: int | None = None
    damage: Damage | None = None

    @property
    def stream(self) -> str:
        """The stream's name (a file outside every stream, like a selection: its own name)."""
        parsed = shards.parse_name(self.path.name)
        return parsed[0] if parsed else self.path.name

    @property
    def is_part(self) -> bool:
        return self.path.name.endswith(shards.PART)

    def lines(self, on_damage: OnDamage = strict) -> Iterator[tuple[int, bytes]]:
        """(position, line) of every readable record, each frame checked; damage goes to
        ``on_damage`` once the shard is read."""
        check = Check.of(self.path, self.end)
        yield from check.lines()
        if (damage := check.damage) is not None:
            self.damage = damage
            on_damage(damage)


def open_shard(path: Path, check: bool = False, known: verified.Known | None = None) -> Shard:
    """A shard with its index: a closed shard's from its footer, a part's rebuilt from its
    complete frames. ``check``: read every frame of a closed shard now, unless ``known`` (the
    verified cache) says it was checked and has not changed since; a shard found sound is
    noted in the cache."""
    if path.name.endswith(shards.PART):
        whole = Check.of(path)
        index = shards.index_from_lines(line for _, line in whole.lines())
        return Shard(path, index, whole.end, whole.damage)
    trusted = not check or (known is not None and verified.fresh(known, path))
    if trusted and (index := shards.read_index(path)) is not None:
        return Shard(path, index)
    index, damage = check_file(path)
    if damage is None and check:
        verified.remember(path)
    return Shard(path, index, damage=damage)


def open_shards(directory: Path, name: str | None = None, check: bool = False) -> list[Shard]:
    """Every shard of the output (of the stream ``name``), in (name, worker, seq) order; with
    ``check``, closed shards not known sound are read whole (see ``open_shard``)."""
    known = verified.load(directory) if check else None
    return [open_shard(path, check, known) for path in shards.list_shards(directory, name)]


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


def summarize(directory: Path, check: bool = True) -> dict[str, Summary]:
    """Every stream's counts from its shard indexes (torn ``.part`` files by their valid
    frames), each shard checked unless the verified cache knows it; changes no shard."""
    streams: dict[str, list[Shard]] = defaultdict(list)
    for shard in open_shards(directory, check=check):
        streams[shard.stream].append(shard)
    summaries = {}
    for name in sorted(streams):
        found = streams[name]
        records, outcomes, gone = counts(found)
        parts = sum(shard.is_part for shard in found)
        questions = {key[0] for shard in found for key in shard.index.keys}
        damaged = [shard.damage for shard in found if shard.damage is not None]
        summaries[name] = Summary(
            len(found) - parts, parts, records, len(questions), gone, dict(outcomes), damaged
        )
    return summaries


def _opened(found: Iterable[Shard | Path]) -> list[Shard]:
    return [shard if isinstance(shard, Shard) else open_shard(shard) for shard in found]


def _visible(
    found: Iterable[Shard | Path], on_damage: OnDamage, only: ShardFilter | None = None
) -> Iterator[tuple[Shard, int, bytes]]:
    found = _opened(found)
    skipped = superseded(found)
    for shard in found:
        if only is not None and not only(shard):
            continue
        skip = skipped.get(shard.path, {})
        for position, line in shard.lines(on_damage):
            if position not in skip:
                yield shard, position, line


def read_lines(found: Iterable[Shard | Path], on_damage: OnDamage = strict) -> Iterator[bytes]:
    """Every record line readers see of the shards ``found`` (opened or paths), in order,
    superseded records skipped."""
    return (line for _, _, line in _visible(found, on_damage))


def read_records(
    found: Iterable[Shard | Path],
    kind: type[T],
    on_damage: OnDamage = strict,
    only: ShardFilter | None = None,
) -> Iterator[T]:
    """Every record readers see of the shards ``found`` (opened or paths), decoded as
    ``kind``; ``only``: read just the shards it accepts (by their index), superseded records
    still skipped across all of them."""
    decode = msgspec.json.Decoder(kind).decode
    for shard, position, line in _visible(found, on_damage, only):
        try:
            yield decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise RecordError(f"{shard.path}: record {position + 1}: {error}") from None


def read_stream(directory: Path, name: str, kind: type[T]) -> Iterator[T]:
    """Every record of the stream ``name`` (``NAME-{worker}-{seq}`` shards) in ``directory``."""
    return read_records(open_shards(directory, name), kind)


def iter_lines(path: Path) -> Iterator[bytes]:
    """Every record line of one shard, as it is on disk (superseded ones included), checked."""
    return (line for _, line in open_shard(path).lines())
