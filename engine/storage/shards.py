"""Shards: ``NAME-{worker}-{seq}.jsonl.zst``, a series of independent zstd frames of JSON lines.

Written into ``.part`` and renamed into place on close, after an index frame (the keys and
outcome counts of every record, in a skippable frame) and a fixed-size footer pointing at it.
``zstd -dc`` and ``datasets.load_dataset("json", ...)`` ignore both skippable frames.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import zstandard

from engine.specs import OutputSpec
from engine.storage import frames
from engine.storage.outcomes import Outcome

SUFFIX = ".jsonl.zst"
PART = ".part"
_NAME = re.compile(r"^(?P<name>.+)-(?P<worker>\d+)-(?P<seq>\d+)\.jsonl\.zst(?P<part>\.part)?$")

Key = tuple[str, int, str]  # (question_id, sample_index, recipe_hash)


class ShardIndex(msgspec.Struct, array_like=True):
    """What resume and ``status`` need from a shard, without reading its records.

    ``keys_raw``: every record's key, left encoded so a restart can skip them. ``scope`` (recipe
    hash, curation hash and n) says what ``complete`` means: ordinal ranges ``[start, end)``,
    flattened, of the questions whose last sample landed in this shard; ``open_keys`` are the
    keys of questions still incomplete when it was sealed. A restart in the same scope reads
    only these two, so its cost follows shards x in-flight questions, not records.
    """

    records: int
    keys_raw: msgspec.Raw
    outcomes: dict[str, int]
    scope: str = ""
    complete: list[int] = []
    open_keys: list[Key] = []

    @property
    def keys(self) -> list[Key]:
        return _decode_keys(self.keys_raw)


def make_index(records: int, keys: list[Key], outcomes: dict[str, int], **extra) -> ShardIndex:
    return ShardIndex(records, msgspec.Raw(_encode_index(keys)), outcomes, **extra)


def ranges(ordinals: list[int]) -> list[int]:
    """Sorted ordinals as flattened ``[start, end)`` ranges: [3, 4, 5, 9] -> [3, 6, 9, 10]."""
    flat: list[int] = []
    for ordinal in sorted(ordinals):
        if flat and flat[-1] == ordinal:
            flat[-1] = ordinal + 1
        else:
            flat += [ordinal, ordinal + 1]
    return flat


class _Status(msgspec.Struct):
    status: str = ""


class _Kind(msgspec.Struct):
    kind: str = ""


class _RecordHead(msgspec.Struct):
    """The fields that identify a record of any stream (sample, exclusion, scored question)
    and say how it ended."""

    question_id: str | None = None
    id: str | None = None
    sample_index: int = -1
    recipe_hash: str = ""
    domain: str = ""
    stage: str | None = None
    verdict: _Status | None = None
    failure: _Kind | None = None

    def key(self) -> Key | None:
        question = self.question_id or self.id
        return None if question is None else (question, self.sample_index, self.recipe_hash)

    def outcome(self) -> Outcome:
        """The outcome its writer gave it."""
        if self.stage is not None or self.question_id is None:  # an exclusion or a question
            return Outcome.of_question(self.domain, self.stage)
        return Outcome.of_sample(
            self.domain,
            self.verdict.status if self.verdict else None,
            self.failure.kind if self.failure else None,
        )


_decode_head = msgspec.json.Decoder(_RecordHead).decode
_encode_index = msgspec.msgpack.Encoder().encode
_decode_index = msgspec.msgpack.Decoder(ShardIndex).decode
_decode_keys = msgspec.msgpack.Decoder(list[Key]).decode


def shard_name(name: str, worker: int, seq: int) -> str:
    return f"{name}-{worker}-{seq:05d}{SUFFIX}"


def parse_name(filename: str) -> tuple[str, int, int, bool] | None:
    """(name, worker, seq, is_part) for a shard file name, else None."""
    match = _NAME.match(filename)
    if not match:
        return None
    return match["name"], int(match["worker"]), int(match["seq"]), bool(match["part"])


class ShardWriter:
    """Appends JSON lines to rotating shards; one zstd frame per flush. Not thread-safe:
    one writer task owns it. Compression and file I/O run in a worker thread.

    ``next_path`` names each new shard (its ``.part`` is written, then renamed to it). ``scope``
    and ``is_open`` (is this question still waiting for samples?) fill the index's complete
    ranges and open keys for resume.
    """

    def __init__(
        self,
        spec: OutputSpec,
        next_path: Callable[[], Path],
        scope: str = "",
        is_open: Callable[[str], bool] | None = None,
    ):
        self.spec = spec
        self.next_path = next_path
        self.scope = scope
        self.is_open = is_open
        self._complete: list[int] = []
        self.closed_shards: list[tuple[Path, ShardIndex]] = []  # indexes without their keys
        self._compressor = zstandard.ZstdCompressor(
            level=spec.zstd_level, write_checksum=True, write_content_size=True
        )
        self._file = None
        self._path: Path | None = None
        self._lines: list[bytes] = []
        self._buffer_keys: list[Key] = []
        self._buffer_outcomes: list[str] = []
        self._keys: list[Key] = []
        self._outcomes: Counter[str] = Counter()
        self._records = 0
        self._bytes = 0
        self._writing: asyncio.Future[None] | None = None

    @property
    def buffered(self) -> int:
        return len(self._lines)

    async def write(self, line: bytes, key: Key | None, outcome: Outcome) -> None:
        """Buffer one JSON line (ending in newline); flush a frame when the buffer is full."""
        self._lines.append(line)
        if key is not None:
            self._buffer_keys.append(key)
        self._buffer_outcomes.append(str(outcome))
        if len(self._lines) >= self.spec.flush_records:
            await self.flush()

    def completed(self, ordinal: int) -> None:
        """The question at ``ordinal`` has all its samples (the last one is buffered here)."""
        self._complete.append(ordinal)

    async def flush(self) -> None:
        """Write the buffer as one frame; rotate when the shard is full."""
        await self._drain()
        if self._records >= self.spec.shard_records or self._bytes >= self.spec.shard_bytes:
            await self.close()

    async def close(self, seal_empty: bool = False) -> None:
        """Flush, then seal the open shard (index, footer, fsync, rename); with ``seal_empty``,
        also when nothing was written (an empty shard)."""
        await self._drain()
        if self._file is None and seal_empty:
            await asyncio.to_thread(self._open)
        if self._file is not None:
            is_open = self.is_open
            open_keys = [k for k in self._keys if is_open(k[0])] if is_open else []
            index = make_index(
                self._records, self._keys, dict(self._outcomes),
                scope=self.scope, complete=ranges(self._complete), open_keys=open_keys,
            )  # fmt: skip
            path = await asyncio.to_thread(self._seal, index)
            self.closed_shards.append((path, make_index(index.records, [], index.outcomes)))
            self._keys, self._outcomes, self._records, self._bytes = [], Counter(), 0, 0
            self._complete = []

    async def _drain(self) -> None:
        """Hand the buffer to a thread as one frame. The write is shielded: a cancelled caller
        does not stop it, and the next drain or close waits for it, so the index always
        matches the frames on disk."""
        if self._writing is not None:
            await self._writing
            self._writing = None
        if not self._lines:
            return
        lines = self._lines
        self._keys.extend(self._buffer_keys)
        self._outcomes.update(self._buffer_outcomes)
        self._records += len(lines)
        self._lines, self._buffer_keys, self._buffer_outcomes = [], [], []
        self._writing = asyncio.ensure_future(asyncio.to_thread(self._write_frame, lines))
        await asyncio.shield(self._writing)
        self._writing = None

    def _open(self) -> None:
        final = self.next_path()
        final.parent.mkdir(parents=True, exist_ok=True)
        self._path = final.with_name(final.name + PART)
        self._file = open(self._path, "xb")  # noqa: SIM115 - lives across calls

    def _write_frame(self, lines: list[bytes]) -> None:
        if self._file is None:
            self._open()
        frame = self._compressor.compress(b"".join(lines))
        self._file.write(frame)
        self._file.flush()
        if self.spec.fsync == "flush":
            os.fsync(self._file.fileno())
        self._bytes += len(frame)

    def _seal(self, index: ShardIndex) -> Path:
        assert self._file is not None and self._path is not None
        final = seal(self._file, self._path, index, fsync=self.spec.fsync != "never")
        self._file, self._path = None, None
        return final


def seal(file, part_path: Path, index: ShardIndex, fsync: bool = True) -> Path:
    """Append index and footer to an open ``.part`` file, close it and rename it into place."""
    offset = file.tell()
    file.write(frames.skippable(frames.SKIPPABLE_INDEX, _encode_index(index)))
    file.write(frames.footer(offset))
    file.flush()
    if fsync:
        os.fsync(file.fileno())
    file.close()
    final = part_path.with_name(part_path.name.removesuffix(PART))
    os.replace(part_path, final)
    if fsync:
        fsync_dir(final.parent)
    return final


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_index(path: Path) -> ShardIndex | None:
    """A closed shard's index from its footer (two small reads), or None if it has none."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < frames.FOOTER_SIZE:
            return None
        f.seek(size - frames.FOOTER_SIZE)
        offset = frames.read_footer(f.read(frames.FOOTER_SIZE))
        if offset is None or offset + 8 > size - frames.FOOTER_SIZE:
            return None
        f.seek(offset)
        data = f.read(size - frames.FOOTER_SIZE - offset)
    try:
        return _decode_index(data[8:])
    except msgspec.DecodeError:
        return None


def valid_frames(data: bytes) -> tuple[list[bytes], int]:
    """Decompressed payloads of the complete, checksum-valid data frames, and the valid length."""
    found, end = frames.walk(data)
    payloads: list[bytes] = []
    decompressor = zstandard.ZstdDecompressor()
    for frame in found:
        if frame.skippable:
            continue
        try:
            payloads.append(decompressor.decompress(data[frame.start : frame.end]))
        except zstandard.ZstdError:
            return payloads, frame.start
    return payloads, end


def iter_lines(path: Path) -> Iterator[bytes]:
    """Every record line of a shard, closed or ``.part`` (a torn tail is ignored)."""
    payloads, _ = valid_frames(path.read_bytes())
    for payload in payloads:
        yield from payload.splitlines()


def index_from_lines(lines: Iterator[bytes]) -> ShardIndex:
    """Rebuild an index by decoding every record (for ``.part`` files and footer-less shards)."""
    keys: list[Key] = []
    outcomes: Counter[str] = Counter()
    records = 0
    for line in lines:
        head = _decode_head(line)
        records += 1
        if (key := head.key()) is not None:
            keys.append(key)
        outcomes[str(head.outcome())] += 1
    return make_index(records, keys, dict(outcomes))


def recover_part(path: Path) -> tuple[Path, ShardIndex] | None:
    """Cut a ``.part`` back to its last complete frame and seal it; drop it when empty."""
    data = path.read_bytes()
    payloads, valid = valid_frames(data)
    if not payloads:
        path.unlink()
        return None
    index = index_from_lines(line for p in payloads for line in p.splitlines())
    with open(path, "r+b") as file:
        file.truncate(valid)
        file.seek(valid)
        return seal(file, path, index), index


def list_shards(directory: Path, name: str | None = None) -> list[Path]:
    """Shard files (closed and ``.part``) in a directory, in (name, worker, seq) order."""
    if not directory.is_dir():
        return []
    found = []
    for entry in os.scandir(directory):
        parsed = parse_name(entry.name)
        if parsed and (name is None or parsed[0] == name):
            found.append((parsed[:3], Path(entry.path)))
    return [path for _, path in sorted(found)]
