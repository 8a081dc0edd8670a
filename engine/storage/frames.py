"""Zstandard frame layout: find frame boundaries without decompressing, write skippable frames.

A shard is a sequence of independent frames; a torn last frame (kill -9 mid-write) is found by
walking the block headers and is cut off. Skippable frames (ignored by every zstd decoder) carry
the shard's key index, so resume reads a few bytes per shard instead of every record. Data frames
carry zstd content checksums; the index frame carries its own CRC-32 (``SKIPPABLE_INDEX_CRC``;
``SKIPPABLE_INDEX`` is the unchecked index of older shards).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

ZSTD_MAGIC = 0xFD2FB528
SKIPPABLE_INDEX = 0x184D2A50
SKIPPABLE_FOOTER = 0x184D2A51
SKIPPABLE_INDEX_CRC = 0x184D2A52  # payload: u32 CRC-32 of the rest, then the index
FOOTER_SIZE = 16  # magic, size, u64 offset of the index frame
_SKIPPABLE_MASK = 0xFFFFFFF0
_FCS_SIZES = (0, 2, 4, 8)
_DICT_ID_SIZES = (0, 1, 2, 4)


class Frame:
    """A frame's position in a file: ``start`` and ``end`` offsets and its magic number."""

    __slots__ = ("end", "magic", "start")

    def __init__(self, magic: int, start: int, end: int):
        self.magic, self.start, self.end = magic, start, end

    @property
    def skippable(self) -> bool:
        return self.magic & _SKIPPABLE_MASK == 0x184D2A50


def _frame_end(buf: memoryview, pos: int) -> int | None:
    """End offset of the frame starting at ``pos``, or None when it runs past the buffer."""
    size = len(buf)
    if pos + 8 > size:
        return None
    (magic,) = struct.unpack_from("<I", buf, pos)
    if magic & _SKIPPABLE_MASK == 0x184D2A50:
        (length,) = struct.unpack_from("<I", buf, pos + 4)
        end = pos + 8 + length
        return end if end <= size else None
    if magic != ZSTD_MAGIC:
        raise ValueError(f"not a zstd frame at offset {pos}")
    descriptor = buf[pos + 4]
    single_segment = (descriptor >> 5) & 1
    fcs_flag = descriptor >> 6
    fcs_size = _FCS_SIZES[fcs_flag] if fcs_flag or not single_segment else 1
    cursor = pos + 5 + (0 if single_segment else 1) + _DICT_ID_SIZES[descriptor & 3] + fcs_size
    while True:
        if cursor + 3 > size:
            return None
        header = buf[cursor] | buf[cursor + 1] << 8 | buf[cursor + 2] << 16
        last, block_type, block_size = header & 1, (header >> 1) & 3, header >> 3
        if block_type == 3:
            raise ValueError(f"reserved block type at offset {cursor}")
        cursor += 3 + (1 if block_type == 1 else block_size)
        if last:
            break
    end = cursor + (4 if descriptor & 4 else 0)
    return end if end <= size else None


def walk(data: bytes) -> tuple[list[Frame], int]:
    """Complete frames in ``data`` and the offset where the valid prefix ends."""
    buf = memoryview(data)
    frames: list[Frame] = []
    pos = 0
    while pos < len(buf):
        try:
            end = _frame_end(buf, pos)
        except ValueError:
            break
        if end is None:
            break
        frames.append(Frame(struct.unpack_from("<I", buf, pos)[0], pos, end))
        pos = end
    return frames, pos


def skippable(magic: int, payload: bytes) -> bytes:
    return struct.pack("<II", magic, len(payload)) + payload


def index_frame(payload: bytes) -> bytes:
    return skippable(SKIPPABLE_INDEX_CRC, struct.pack("<I", zlib.crc32(payload)) + payload)


def index_payload(frame: bytes | memoryview) -> bytes | None:
    """The index inside a whole index frame, or None when its magic, length or CRC is wrong."""
    if len(frame) < 8:
        return None
    magic, length = struct.unpack_from("<II", frame)
    if length != len(frame) - 8:
        return None
    if magic == SKIPPABLE_INDEX:
        return bytes(frame[8:])
    if magic != SKIPPABLE_INDEX_CRC or length < 4:
        return None
    (crc,) = struct.unpack_from("<I", frame, 8)
    payload = bytes(frame[12:])
    return payload if zlib.crc32(payload) == crc else None


def frame_end(data: bytes | memoryview, pos: int, limit: int | None = None) -> int | None:
    """End of the frame at ``pos`` when it is whole within ``limit``, else None."""
    buf = memoryview(data)[: len(data) if limit is None else limit]
    try:
        return _frame_end(buf, pos)
    except ValueError:
        return None


def resync(data: bytes, pos: int, limit: int) -> int:
    """The next offset after ``pos`` where a frame of ours may start (data or index), else
    ``limit``: frames are independent, so a reader skips a damaged one and goes on."""
    found = [
        at
        for magic in (ZSTD_MAGIC, SKIPPABLE_INDEX_CRC, SKIPPABLE_INDEX)
        if (at := data.find(struct.pack("<I", magic), pos + 1, limit)) >= 0
    ]
    return min(found, default=limit)


def footer(index_offset: int) -> bytes:
    return skippable(SKIPPABLE_FOOTER, struct.pack("<Q", index_offset))


def read_footer(tail: bytes) -> int | None:
    """Offset of the index frame from a file's last FOOTER_SIZE bytes, if it has our footer."""
    if len(tail) != FOOTER_SIZE:
        return None
    magic, length, offset = struct.unpack("<IIQ", tail)
    return offset if magic == SKIPPABLE_FOOTER and length == 8 else None


def iter_data_frames(data: bytes, frames: list[Frame]) -> Iterator[memoryview]:
    view = memoryview(data)
    for frame in frames:
        if not frame.skippable:
            yield view[frame.start : frame.end]
