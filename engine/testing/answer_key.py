"""The mock's answer key: what it knows about each question, found again inside a prompt.

A row is ``{"problem", "answer"?, "choices"?, "solution"?, "language"?}``: a math gold, the
options of a multiple-choice question (``answer`` is then the correct option's text), or a
reference program for a code question. Rows are found by the problem's first non-empty line,
as a line of the prompt or the end of one (templates such as Evalchemy's ``Problem: {problem}``
put a prefix on it), then by the whole problem appearing in the prompt (two problems may open
with the same line; a prefixed line must be confirmed so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from engine.records import Question


class KeyRow(msgspec.Struct, frozen=True, omit_defaults=True):
    problem: str
    answer: str | None = None
    choices: list[str] | None = None
    solution: str | None = None
    language: str | None = None


class _FileRow(msgspec.Struct):
    """A row as files give it: other fields are ignored, answers may be numbers or lists."""

    problem: str
    answer: str | int | float | list[Any] | None = None
    choices: list[str] | None = None
    solution: str | None = None
    language: str | None = None

    def row(self) -> KeyRow:
        answer = self.answer[0] if isinstance(self.answer, list) and self.answer else self.answer
        return KeyRow(
            self.problem,
            None if answer is None or answer == [] else str(answer),
            self.choices,
            self.solution,
            self.language,
        )


class AnswerKeyError(ValueError):
    """An answer key file that cannot be read; the message names the file and line."""


def rows_of(questions: Iterable[Question]) -> Iterator[KeyRow]:
    """Key rows for the questions that carry something to answer with."""
    for q in questions:
        solution = q.metadata.get("solution")
        if q.answer is None and not q.choices and not isinstance(solution, str):
            continue
        language = q.metadata.get("language")
        yield KeyRow(
            q.problem,
            q.answer,
            q.choices,
            solution if isinstance(solution, str) else None,
            language if isinstance(language, str) else None,
        )


def write_key(path: Path, rows: Iterable[KeyRow]) -> int:
    """Write rows as JSONL; returns how many."""
    count = 0
    with path.open("wb") as f:
        for row in rows:
            f.write(msgspec.json.encode(row) + b"\n")
            count += 1
    return count


def read_key(path: str | Path) -> list[KeyRow]:
    """Rows of a JSON array or JSONL file."""
    try:
        data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    except OSError as error:
        raise AnswerKeyError(f"answer key {path}: {error.strerror}") from None
    if data.lstrip().startswith(b"["):
        try:
            return [r.row() for r in msgspec.json.decode(data, type=list[_FileRow])]
        except msgspec.DecodeError as error:
            raise AnswerKeyError(f"answer key {path}: {error}") from None
    rows = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(msgspec.json.decode(line, type=_FileRow).row())
        except msgspec.DecodeError as error:
            raise AnswerKeyError(f"answer key {path}, line {number}: {error}") from None
    return rows


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


class AnswerKey:
    def __init__(self, rows: Iterable[KeyRow] = ()):
        self._by_line: dict[str, list[KeyRow]] = {}
        for row in rows:
            self._by_line.setdefault(first_line(row.problem), []).append(row)
        # first lines by their last _TAIL characters: a prompt line that ends with a first line
        # is found with one dict lookup per tail length, whatever the prefix
        self._by_tail: dict[str, list[str]] = {}
        for line in self._by_line:
            self._by_tail.setdefault(line[-_TAIL:], []).append(line)
        self._tail_lengths = sorted({len(tail) for tail in self._by_tail})

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_line.values())

    def find(self, prompt: str) -> KeyRow | None:
        """The row of the problem this prompt asks, or None."""
        if not self._by_line:
            return None
        for line in prompt.splitlines():
            line = line.strip()
            candidates = self._by_line.get(line)
            if candidates:
                for row in candidates:
                    if row.problem.strip() in prompt:
                        return row
                return candidates[0]
            if (row := self._prefixed(line, prompt)) is not None:
                return row
        return None

    def _prefixed(self, line: str, prompt: str) -> KeyRow | None:
        """A row whose first line ends ``line`` after a prefix, its whole problem in the prompt."""
        for length in self._tail_lengths:
            if length >= len(line):
                break
            for key_line in self._by_tail.get(line[-length:], ()):
                if line.endswith(key_line):
                    for row in self._by_line[key_line]:
                        if row.problem.strip() in prompt:
                            return row
        return None


_TAIL = 32
_OPTION = re.compile(r"^\(?([A-J])[).:]\s+(.*\S)\s*$", re.MULTILINE)


def options_in(prompt: str) -> dict[str, str]:
    """The lettered options of the last run ``A) .. B) ..`` in the prompt, letter -> text."""
    options: dict[str, str] = {}
    for m in _OPTION.finditer(prompt):
        letter, text = m.group(1), m.group(2)
        if letter == "A":
            options = {}
        if ord(letter) - ord("A") == len(options):
            options[letter] = text
    return options if len(options) >= 2 else {}


def same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())
