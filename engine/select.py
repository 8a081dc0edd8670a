"""Top-N per domain by a score: the barrier between scoring and sampling, and its persistence.

The selection is a pure function of the scored questions: rank by the score (descending or
ascending), ties broken by question id (smaller first), whatever order the questions arrive in.
Memory is a bounded heap of N questions per capped domain. The result is saved as one zstd
JSONL file, written atomically, so a restarted job loads it instead of selecting again.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec
import zstandard

from engine.records import Domain, Question
from engine.storage import shards


class SelectSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """top: N per domain; a domain not listed is not capped (all its questions are kept).
    by: the score (its ``Score.stage``) that ranks each domain; a domain not listed ranks by
    the last score its questions carry. order: ``descending`` keeps the highest scores."""

    top: dict[Domain, int] = {}
    by: dict[Domain, str] = {}
    order: Literal["descending", "ascending"] = "descending"

    def __post_init__(self) -> None:
        for domain, n in self.top.items():
            if n < 0:
                raise ValueError(f"select top for {domain!r} must be >= 0, got {n}")


NotSelectedReason = Literal["below_top_n", "no_score"]


class NotSelected(msgspec.Struct, kw_only=True, tag="not_selected"):
    """Why a question did not make the selection (for its exclusion record)."""

    question_id: str
    domain: Domain
    reason: NotSelectedReason
    score: float | None = None
    detail: str = ""


class _Entry:
    """A held question; ``a < b`` when a ranks below b (the heap's root is the weakest)."""

    __slots__ = ("key", "question")

    def __init__(self, key: float, question: Question):
        self.key, self.question = key, question

    def __lt__(self, other: _Entry) -> bool:
        if self.key != other.key:
            return self.key < other.key
        return self.question.id > other.question.id


class TopN:
    """``add`` each scored question; ``selected()`` once they are all in.

    ``add`` returns the question that is out, with the reason, as soon as that is certain: the
    new question itself, or the held one it displaced (a question pushed out of a top-N heap
    never comes back, since the heap only improves). ``held`` counts questions in memory.
    """

    def __init__(self, spec: SelectSpec):
        self.spec = spec
        self.sign = 1.0 if spec.order == "descending" else -1.0
        self.heaps: dict[str, list[_Entry]] = {}
        self.uncapped: list[Question] = []

    @property
    def held(self) -> int:
        return len(self.uncapped) + sum(len(heap) for heap in self.heaps.values())

    def score_of(self, question: Question) -> float | None:
        stage = self.spec.by.get(question.domain)
        for score in reversed(question.scores):
            if stage is None or score.stage == stage:
                return None if math.isnan(score.value) else score.value
        return None

    def add(self, question: Question) -> tuple[Question, NotSelected] | None:
        n = self.spec.top.get(question.domain)
        if n is None:
            self.uncapped.append(question)
            return None
        value = self.score_of(question)
        if value is None:
            by = self.spec.by.get(question.domain, "any stage")
            return question, self._out(question, "no_score", None, f"no score from {by}")
        entry = _Entry(self.sign * value, question)
        heap = self.heaps.setdefault(question.domain, [])
        if len(heap) < n:
            heapq.heappush(heap, entry)
            return None
        if n and heap[0] < entry:
            entry = heapq.heapreplace(heap, entry)
        out = entry.question
        detail = f"not in the top {n} {out.domain} questions ({self.spec.order})"
        return out, self._out(out, "below_top_n", self.sign * entry.key, detail)

    def selected(self) -> list[Question]:
        """Capped domains best first (domains in name order), then uncapped ones as they came."""
        chosen = [
            entry.question
            for domain in sorted(self.heaps)
            for entry in sorted(self.heaps[domain], reverse=True)
        ]
        return chosen + self.uncapped

    @staticmethod
    def _out(
        question: Question, reason: NotSelectedReason, score: float | None, detail: str
    ) -> NotSelected:
        return NotSelected(
            question_id=question.id,
            domain=question.domain,
            reason=reason,
            score=score,
            detail=detail,
        )


class SelectionError(Exception):
    """A saved selection that cannot be read back whole; the message names the file."""


_encode = msgspec.json.Encoder().encode
_decode_question = msgspec.json.Decoder(Question).decode
_FRAME_RECORDS = 1024


def save_selection(path: Path, questions: Iterable[Question], zstd_level: int = 3) -> int:
    """Write the questions to ``path`` atomically; returns how many.

    Frames go to ``path.part`` (a stale one from a crash is overwritten), which is then sealed
    with the shard index and footer, fsynced and renamed into place (engine.storage.shards.seal).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + shards.PART)
    compressor = zstandard.ZstdCompressor(level=zstd_level, write_checksum=True)
    count = 0
    with open(part, "wb") as file:
        batch: list[bytes] = []
        for question in questions:
            batch.append(_encode(question) + b"\n")
            if len(batch) == _FRAME_RECORDS:
                file.write(compressor.compress(b"".join(batch)))
                count, batch = count + len(batch), []
        if batch:
            file.write(compressor.compress(b"".join(batch)))
            count += len(batch)
        shards.seal(file, part, shards.make_index(count, [], {}))
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
    for count, line in enumerate(shards.iter_lines(path), 1):
        try:
            yield _decode_question(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise SelectionError(f"{path}: record {count}: {error}") from None
    if count != expected:
        raise SelectionError(f"{path}: {count} records readable, the index says {expected}")
