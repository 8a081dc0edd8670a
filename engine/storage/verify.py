"""Checking a shard's bytes, and what to do with a damaged one.

Every read of records goes through ``Check``: each data frame is decompressed with its zstd
content checksum verified and, in a closed shard, compared with the index (which lists every
frame's end and record count, and has its own CRC). A damaged frame is skipped (frames are
independent), its records are counted as lost, and the damage is reported with the file, the
frame and how many records were lost. In a ``.part`` a torn last frame (a writer killed
mid-write) is not damage: it is where the part ends.

``run`` salvages a damaged shard: the file is kept, whole, in ``OUTDIR/quarantine/``, and its
readable frames (bytes as they are) replace it under the same name with a new index that lists
the lost records as records to make again, so the run regenerates exactly those.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import msgspec
import zstandard

from engine.records import Failure, Manifest
from engine.storage import frames, shards, verified

log = logging.getLogger(__name__)

QUARANTINE = "quarantine"


class Damage(msgspec.Struct):
    """What is wrong with a shard: the first problem (and how many more), the first damaged
    frame and byte, and the records it should hold (None: its index is lost too) and holds."""

    path: str
    problem: str
    frame: int | None
    offset: int | None
    expected: int | None
    readable: int
    lost: int | None
    more: int = 0

    def __str__(self) -> str:
        where = f" (frame {self.frame}, byte {self.offset})" if self.frame is not None else ""
        more = f" and {self.more} more problem(s)" if self.more else ""
        if self.expected is None:
            count = f"{self.readable} records readable, how many were lost is unknown"
        else:
            count = f"{self.readable} of {self.expected} records readable, {self.lost} lost"
        return f"{self.path}: damaged shard: {self.problem}{where}{more}; {count}"


class DamagedShard(Exception):
    """A shard failed its checks; the message names the file, frame and records lost."""

    def __init__(self, damage: Damage):
        super().__init__(
            f"{damage}; pass --skip-damaged to read past it, or run the job again to quarantine "
            "it and make the lost records again"
        )
        self.damage = damage


class Piece(NamedTuple):
    """A readable data frame: its bytes ``[start, end)``, the position of its first record in
    the shard, and its record lines."""

    start: int
    end: int
    position: int
    lines: list[bytes]


class Check:
    """One pass over a shard's bytes: ``pieces()`` yields its readable frames (and notes the
    damaged ones); afterwards ``damage`` says what is wrong, or None.

    ``part``: a ``.part`` being (or having been) written: no index, and a torn tail ends it."""

    def __init__(self, path: Path, data: bytes, part: bool = False):
        self.path = path
        self.data = data
        self.part = part
        self.readable = 0
        self.end = 0  # where the valid prefix ends (all of a closed shard)
        self.lost: list[tuple[int, int]] = []  # (first position, records) of damaged frames
        self._problems: list[tuple[str, int | None, int | None]] = []
        self.index: shards.ShardIndex | None = None
        self._region = len(data)
        if not part:
            self._read_index()

    @classmethod
    def of(cls, path: Path, end: int | None = None) -> Check:
        data = shards.read_bytes(path)
        part = path.name.endswith(shards.PART)
        return cls(path, data if end is None else data[:end], part)

    @property
    def damage(self) -> Damage | None:
        if not self._problems:
            return None
        problem, frame, offset = self._problems[0]
        expected = self.index.records if self.index is not None else None
        lost = None if expected is None else expected - self.readable
        more = len(self._problems) - 1
        return Damage(str(self.path), problem, frame, offset, expected, self.readable, lost, more)

    def _note(self, problem: str, frame: int | None = None, offset: int | None = None) -> None:
        self._problems.append((problem, frame, offset))

    def _read_index(self) -> None:
        """The index the footer points at; else one found by scanning (a damaged footer)."""
        data = self.data
        size = len(data)
        tail = data[size - frames.FOOTER_SIZE :] if size >= frames.FOOTER_SIZE else b""
        offset = frames.read_footer(tail)
        if offset is not None and offset + 8 <= size - frames.FOOTER_SIZE:
            self.index = shards.decode_index(memoryview(data)[offset : size - frames.FOOTER_SIZE])
            if self.index is not None:
                self._region = offset
                return
            self._note("index frame fails its check", None, offset)
        else:
            self._note("no index footer (truncated?)", None, max(0, size - frames.FOOTER_SIZE))
        for start, end in _skippable(data):  # the index itself may have survived
            index = shards.decode_index(memoryview(data)[start:end])
            if index is not None:
                self.index, self._region = index, start

    def pieces(self) -> Iterator[Piece]:
        if self.index is not None and self.index.frames:
            yield from self._indexed(self.index)
        else:
            yield from self._scanned()

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(position, line) of every readable record."""
        for piece in self.pieces():
            for offset, line in enumerate(piece.lines):
                yield piece.position + offset, line

    def _indexed(self, index: shards.ShardIndex) -> Iterator[Piece]:
        """Frames where the index says they are, each with the record count it says."""
        start = position = 0
        for number, (end, count) in enumerate(index.frames):
            lines, problem = self._decode(start, end, count)
            if lines is None:
                self._note(problem, number, start)
                self.lost.append((position, count))
            else:
                self.readable += count
                yield Piece(start, end, position, lines)
            start, position = end, position + count
        if start != self._region:
            self._note("bytes between the last frame and the index", len(index.frames), start)
        self.end = len(self.data)

    def _scanned(self) -> Iterator[Piece]:
        """Frames found by walking (parts, older shards, a lost index); a damaged frame is
        skipped by looking for the next frame's magic number."""
        data, region = self.data, self._region
        start = position = number = last = 0
        while start < region:
            end = frames.frame_end(data, start, region)
            if end is None:
                after = frames.resync(data, start, region)
                if self.part and after == region:
                    break  # a torn tail: where a killed writer stopped
                self._note("not a whole zstd frame", number, start)
                start, number = after, number + 1
                continue
            (magic,) = struct.unpack_from("<I", data, start)
            if magic != frames.ZSTD_MAGIC:
                start = end  # a skippable frame
                continue
            lines, problem = self._decode(start, end, None)
            if lines is None:
                self._note(problem, number, start)
            else:
                self.readable += len(lines)
                yield Piece(start, end, position, lines)
                position, last = position + len(lines), end
            start, number = end, number + 1
        # a part ends after its last data frame: an index a writer killed mid-seal wrote is cut
        self.end = last if self.part else len(data)

    def _decode(
        self, start: int, end: int, count: int | None
    ) -> tuple[list[bytes], str] | tuple[None, str]:
        data = self.data
        if frames.frame_end(data, start, end) != end or data[start : start + 4] != _ZSTD:
            return None, "not a whole zstd frame"
        try:
            payload = zstandard.ZstdDecompressor().decompress(data[start:end])
        except zstandard.ZstdError as error:
            return None, f"unreadable frame ({error})"
        lines = payload.splitlines()
        if count is not None and len(lines) != count:
            return None, f"{len(lines)} records in a frame the index says holds {count}"
        return lines, ""


_ZSTD = struct.pack("<I", frames.ZSTD_MAGIC)


def _skippable(data: bytes) -> Iterator[tuple[int, int]]:
    """Every place an index frame may start, with the end its length field gives."""
    for magic in (frames.SKIPPABLE_INDEX_CRC, frames.SKIPPABLE_INDEX):
        pattern = struct.pack("<I", magic)
        at = data.find(pattern)
        while at >= 0:
            if at + 8 <= len(data):
                (length,) = struct.unpack_from("<I", data, at + 4)
                if at + 8 + length <= len(data):
                    yield at, at + 8 + length
            at = data.find(pattern, at + 1)


def check_file(path: Path) -> tuple[shards.ShardIndex, Damage | None]:
    """Read a whole shard: the index readers should count (the shard's own when it is sound,
    else rebuilt from its readable records) and its damage."""
    check = Check.of(path)
    lines = [line for piece in check.pieces() for line in piece.lines]
    damage = check.damage
    if damage is None and check.index is not None:
        return check.index, None
    return shards.index_from_lines(iter(lines)), damage


def _free(path: Path) -> Path:
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def salvage(check: Check) -> tuple[Path, shards.ShardIndex]:
    """Quarantine a damaged shard and put its readable frames in its place (closed, under the
    shard's own name, so it keeps its order among the others). The new index lists each record
    of a damaged frame as lost (made again by the next run); when the old index itself is lost,
    it says so, and a restart then reads every key instead of trusting completion ranges."""
    path = check.path
    final = path.with_name(path.name.removesuffix(shards.PART))
    pieces = list(check.pieces())
    damage = check.damage
    assert damage is not None
    quarantine = path.parent / QUARANTINE
    quarantine.mkdir(exist_ok=True)
    kept = _free(quarantine / path.name)
    try:
        os.link(path, kept)  # the damaged file stays, whole; readers never see it missing
    except OSError:
        shutil.copy2(path, kept)
    index = shards.index_from_lines(line for piece in pieces for line in piece.lines)
    ends, written = [], 0
    for piece in pieces:
        written += piece.end - piece.start
        ends.append((written, len(piece.lines)))
    lost_failure = Failure("lost", f"{QUARANTINE}/{kept.name}: {damage.problem}")
    old = check.index
    if old is not None and len(old.keys) == old.records:
        keys = old.keys
        lost = [
            shards.Retry(-1, key, "", [lost_failure])
            for first, count in check.lost
            for key in keys[first : first + count]
        ]
        index = msgspec.structs.replace(index, frames=ends, retry=[*index.retry, *lost])
    else:  # which records were lost is unknown; a part's lost frames are claimed by no range
        index = msgspec.structs.replace(index, frames=ends, lost_unknown=not check.part)
    tmp = quarantine / f"{final.name}.salvage"
    with open(tmp, "wb") as file:
        for piece in pieces:
            file.write(check.data[piece.start : piece.end])
        shards.seal(file, tmp, index, final=final)
    if path != final:
        path.unlink()
    shards.fsync_dir(quarantine)
    log.warning("%s; the shard is kept as %s and its readable records stay", damage, kept)
    return final, index


def recover_part(path: Path) -> tuple[Path, shards.ShardIndex] | None:
    """Seal a ``.part`` left by a killed writer: cut at its last complete frame and seal it in
    place, or salvage it when a complete frame is damaged; drop it when nothing is readable."""
    check = Check.of(path)
    pieces = list(check.pieces())
    if check.damage is not None:
        return salvage(Check.of(path))
    if not pieces:
        path.unlink()
        return None
    index = shards.index_from_lines(line for piece in pieces for line in piece.lines)
    index = msgspec.structs.replace(index, frames=[(p.end, len(p.lines)) for p in pieces])
    with open(path, "r+b") as file:
        file.truncate(check.end)
        file.seek(check.end)
        return shards.seal(file, path, index), index


class Report(msgspec.Struct):
    """``python -m engine verify``: every shard read whole, what is damaged, and the problems
    that are not a shard's (an unreadable manifest)."""

    directory: str
    shards: int
    records: int
    damaged: list[Damage]
    problems: list[str]

    @property
    def clean(self) -> bool:
        return not self.damaged and not self.problems


def verify_output(directory: Path) -> Report:
    """Read every byte of every shard (streams and saved selections) and the manifest; sound
    closed shards are noted in the verified cache."""
    selections = sorted(directory.glob(f"*_selection-*{shards.SUFFIX}"))
    paths = [*shards.list_shards(directory), *selections]
    damaged, records = [], 0
    for path in paths:
        index, damage = check_file(path) if not path.name.endswith(shards.PART) else _part(path)
        records += index.records
        if damage is not None:
            damaged.append(damage)
        elif not path.name.endswith(shards.PART):
            verified.remember(path)
    problems = []
    manifest = directory / shards.MANIFEST
    try:
        msgspec.json.decode(manifest.read_bytes(), type=Manifest)
    except FileNotFoundError:
        problems.append(f"{manifest}: missing")
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        problems.append(f"{manifest}: unreadable: {error}")
    return Report(str(directory), len(paths), records, damaged, problems)


def _part(path: Path) -> tuple[shards.ShardIndex, Damage | None]:
    check = Check.of(path)
    index = shards.index_from_lines(line for _, line in check.lines())
    return index, check.damage
