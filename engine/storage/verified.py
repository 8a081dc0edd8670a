"""The cache of shards whose every frame was checked (``OUTDIR/verified.cache``), so that a
restart and ``status`` check only what changed: O(shards) stats instead of O(data) reads.

One JSON line per shard: its name and the (size, mtime_ns, ctime_ns, inode) it had when it was
checked, or when the writer sealed it (the writer trusts the bytes it has just written). A shard
whose stat differs is checked again. That catches every change made through the file system
(a write, a truncation, a copy or restore over it: ctime cannot be set back by a user), but not
bits that rot on the medium without a write: ``python -m engine verify OUTDIR`` reads every byte,
and every read of records (``cat``, export, eval) checks the frames it reads anyway.

Appends are small single writes (readers append too, without the lock); a torn or stale line is
ignored, and the writer compacts the file when most of it is stale.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

CACHE = "verified.cache"
Known = dict[str, tuple[int, int, int, int]]  # shard name -> (size, mtime_ns, ctime_ns, inode)
_decode = msgspec.json.Decoder(tuple[str, int, int, int, int]).decode


def stamp(path: Path) -> tuple[int, int, int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def load(directory: Path) -> Known:
    """Shard name -> the stat it was checked with (the last line of a name wins)."""
    try:
        data = (directory / CACHE).read_bytes()
    except OSError:
        return {}
    known = {}
    for line in data.splitlines():
        try:
            name, *stat = _decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        known[name] = tuple(stat)
    return known  # type: ignore[return-value]


def fresh(known: Known, path: Path) -> bool:
    """Was ``path`` checked (or sealed) and not changed since?"""
    try:
        return known.get(path.name) == stamp(path)
    except FileNotFoundError:
        return False


def remember(path: Path) -> None:
    """Note ``path`` as checked, as it is now. Best effort: a read-only or full disk only
    means it is checked again next time."""
    try:
        line = msgspec.json.encode([path.name, *stamp(path)]) + b"\n"
        fd = os.open(path.parent / CACHE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as error:
        log.debug("verified cache: %s not noted: %s", path, error)


def compact(directory: Path, known: Known) -> None:
    """Rewrite the cache with the entries still true, when most lines are stale (writer only)."""
    path = directory / CACHE
    with contextlib.suppress(OSError):
        lines = path.read_bytes().count(b"\n")
        live = {name: stat for name, stat in known.items() if fresh(known, directory / name)}
        if lines <= 2 * len(live) + 16:
            return
        tmp = path.with_name(CACHE + ".tmp")
        tmp.write_bytes(b"".join(msgspec.json.encode([n, *s]) + b"\n" for n, s in live.items()))
        os.replace(tmp, path)
