"""What a job's sources share while they are read: the question ids seen so far (an id is one
question per job) and the rows that became no question, on their way to the exclusions.

A repeated id keeps its first row: each later row is a ``repeated_id`` exclusion naming both
places (FILE:LINE), so no id ever reaches the output twice. A bad row under ``on_bad_row =
"skip"`` is a ``bad_row`` exclusion naming its place. The seen ids are 8-byte hashes (blake2b)
in a flat open-addressing table, about 32 bytes an id, so a stream of millions stays small; two
different ids share a hash with probability about n²/2⁶⁵ (3e-8 for a million).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator

import msgspec

from engine.records import BadRow, Question, RepeatedId
from engine.specs import SourceSpec

_LINE_BITS = 40  # a place packs (file number, line) into 64 bits


class Rejected(msgspec.Struct):
    """A source row that became no question: the exclusion to write (``question`` stands in
    for a bad row: its id is the row's place, its problem empty)."""

    question: Question
    reason: BadRow | RepeatedId

    @property
    def kind(self) -> str:
        """``bad_row`` or ``repeated_id``: the reason's tag."""
        return str(self.reason.__struct_config__.tag)


class SeenIds:
    """64-bit keys (never 0) each with a 64-bit value, in two flat arrays at most 2/3 full."""

    def __init__(self, capacity: int = 1024) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._values = array("Q", bytes(8 * capacity))
        self.size = 0

    def setdefault(self, key: int, value: int) -> int | None:
        """Store ``value`` under ``key`` unless the key is there; the stored value, else None."""
        keys, mask = self._keys, len(self._keys) - 1
        slot = key & mask
        while found := keys[slot]:
            if found == key:
                return self._values[slot]
            slot = (slot + 1) & mask
        keys[slot], self._values[slot] = key, value
        self.size += 1
        if 3 * self.size > 2 * len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old = zip(self._keys, self._values, strict=True)
        capacity = 2 * len(self._keys)
        self._keys = array("Q", bytes(8 * capacity))
        self._values = array("Q", bytes(8 * capacity))
        self.size = 0
        for key, value in old:
            if key:
                self.setdefault(key, value)

    @property
    def nbytes(self) -> int:
        return 2 * self._keys.itemsize * len(self._keys)


def _hash(question_id: str) -> int:
    digest = hashlib.blake2b(question_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def place(origin: str, where: int) -> str:
    return f"{origin}:{where}"


class Intake:
    """Admits each question id once per job and collects the rows that became no question."""

    def __init__(self) -> None:
        self.seen = SeenIds()
        self._files: list[str] = []
        self._numbers: dict[str, int] = {}
        self._rejected: list[Rejected] = []

    def admit(self, question: Question, origin: str, where: int) -> bool:
        """True for the first row with this id; a later one is rejected as ``repeated_id``."""
        number = self._numbers.setdefault(origin, len(self._files))
        if number == len(self._files):
            self._files.append(origin)
        kept = self.seen.setdefault(_hash(question.id), number << _LINE_BITS | where)
        if kept is None:
            return True
        first = place(self._files[kept >> _LINE_BITS], kept & ((1 << _LINE_BITS) - 1))
        here = place(origin, where)
        row_id = f"{question.source}@{here}"
        reason = RepeatedId(question_id=row_id, id=question.id, kept=first, row=here)
        self._rejected.append(Rejected(msgspec.structs.replace(question, id=row_id), reason))
        return False

    def bad_row(self, spec: SourceSpec, origin: str, where: int, detail: str) -> None:
        row_id = f"{spec.name}@{place(origin, where)}"
        stand_in = Question(id=row_id, domain=spec.domain, source=spec.name, problem="")
        reason = BadRow(question_id=row_id, file=origin, line=where, detail=detail)
        self._rejected.append(Rejected(stand_in, reason))

    def drain(self) -> Iterator[Rejected]:
        """The rows rejected since the last drain, in reading order."""
        rejected, self._rejected = self._rejected, []
        yield from rejected
