"""Rows of a JSON array file, decoded one element at a time from a sliding buffer.

The file is never loaded whole: memory holds one chunk plus the element being decoded. An
element nested too deeply to decode, or longer than ``max_bytes``, is stepped over (strings
jumped, brackets counted) and yielded as ``Unreadable``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.sources.errors import SourceError, Unreadable
from engine.sources.files import FileRows, open_binary

CHUNK_BYTES = 1 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}"]')  # a whole string, a bracket, or a lone quote


class _Scanner:
    """A window over a text stream that decodes JSON values and tracks line numbers."""

    def __init__(self, stream, path: Path, max_bytes: int) -> None:
        self.stream, self.path, self.max_bytes = stream, path, max_bytes
        self.text, self.pos, self.eof = "", 0, False
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self._line, self._counted = 1, 0  # line number at text[_counted]
        self._decode = json.JSONDecoder().raw_decode

    def line(self) -> int:
        self._line += self.text.count("\n", self._counted, self.pos)
        self._counted = self.pos
        return self._line

    def _refill(self, size: int = CHUNK_BYTES) -> bool:
        chunk = self.stream.read(size)
        self.eof = not chunk
        self.line()
        self.text = self.text[self.pos :] + self._utf8.decode(chunk, final=self.eof)
        self.pos = self._counted = 0
        return not self.eof

    def peek(self) -> str:
        """The next non-whitespace character, not consumed; "" at the end of the file."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._refill():
                return ""

    def value(self) -> Any:
        while True:
            try:
                value, end = self._decode(self.text, self.pos)
            except RecursionError:
                self.skip()
                return Unreadable("invalid JSON: nested too deeply to decode")
            except json.JSONDecodeError as error:
                if len(self.text) - self.pos > self.max_bytes:
                    self.skip()
                    return Unreadable(f"element longer than max_row_bytes ({self.max_bytes})")
                # Grow the window geometrically so a huge element costs linear time.
                if self.eof or not self._refill(max(CHUNK_BYTES, len(self.text) - self.pos)):
                    raise SourceError(
                        f"{self.path}, line {self.line()}: invalid JSON: {error.msg}"
                    ) from None
                continue
            # A number that ends the window may go on in the next chunk.
            if end == len(self.text) and not self.eof and self._refill():
                continue
            self.pos = end
            return value

    def skip(self) -> None:
        """Move past the value at ``pos`` without decoding it: strings are jumped over whole,
        brackets counted until the one that closes the value."""
        depth = 0
        while True:
            match = _TOKEN.search(self.text, self.pos)
            if match is None or match.group() == '"':  # the window ends (inside a string)
                self.pos = len(self.text) if match is None else match.start()
                if not self._refill(max(CHUNK_BYTES, len(self.text) - self.pos)):
                    raise SourceError(f"{self.path}, line {self.line()}: unterminated value")
                continue
            self.pos, token = match.end(), match.group()
            if token in ("[", "{"):
                depth += 1
            elif token in ("]", "}"):
                depth -= 1
            if depth == 0:
                return

    def expect(self, allowed: str) -> str:
        char = self.peek()
        if not char or char not in allowed:
            found = repr(char) if char else "end of file"
            expected = " or ".join(repr(c) for c in allowed)
            where = f"{self.path}, line {self.line()}"
            raise SourceError(f"{where}: expected {expected}, found {found}")
        self.pos += 1
        return char


class JsonArrayRows(FileRows):
    """Yields ``(line where the element starts, element)`` for each element of a top-level array."""

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        with open_binary(self.path) as stream:
            scanner = _Scanner(stream, self.path, self.max_bytes)
            scanner.expect("[")
            if scanner.peek() == "]":
                return
            while True:
                scanner.peek()
                yield scanner.line(), scanner.value()
                if scanner.expect(",]") == "]":
                    break
            if scanner.peek():
                raise SourceError(f"{self.path}, line {scanner.line()}: data after the array")
