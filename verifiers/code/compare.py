"""The output-comparison policies: stdin/stdout text, and the JSON values of call-based tests.

Text outputs are compared token by token (tokens are separated by any whitespace, so spacing and
line breaks do not matter). Two tokens match when:
- they are the same text (ignoring case only when ``case_insensitive``, e.g. YES/yes);
- both are integers of the same value, compared exactly however large;
- both are decimal numbers and at least one has a fraction or exponent, and they differ by at
  most 1e-6 absolutely or relatively (so 0.1000000 matches 0.1, and 2 matches 2.0000001).
The token counts must be equal: a partial or an extra output never passes. A custom checker
(``Checker``) replaces this policy for problems with several right answers.

Values returned by call-based tests are compared as JSON (``compare_values``): booleans match
only booleans, integers match exactly, a float matches a number within the same tolerance,
strings and null exactly, arrays item by item with equal lengths (a returned tuple is an
array), objects key by key with the same keys.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import msgspec

TOLERANCE = 1e-6
EXCERPT = 60

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

#: checker(input, expected, got) -> True when ``got`` is a right answer.
Checker = Callable[[str, str, str], bool]


class Mismatch(msgspec.Struct):
    """Where an output first differs: token position and short excerpts of both sides."""

    position: int
    expected: str
    got: str

    def describe(self) -> str:
        return f"token {self.position + 1}: expected {self.expected}, got {self.got}"


def compare_outputs(expected: str, got: str, *, case_insensitive: bool = False) -> Mismatch | None:
    """None when ``got`` matches ``expected`` under the policy above, else the first mismatch."""
    pairs = itertools.zip_longest(expected.split(), got.split())
    for position, (want, have) in enumerate(pairs):
        if want is None or have is None:  # one output ended first: never a pass
            return Mismatch(position, _excerpt(want), _excerpt(have))
        if not tokens_match(want, have, case_insensitive=case_insensitive):
            return Mismatch(position, _excerpt(want), _excerpt(have))
    return None


def tokens_match(expected: str, got: str, *, case_insensitive: bool = False) -> bool:
    if expected == got or (case_insensitive and expected.lower() == got.lower()):
        return True
    if _INTEGER.fullmatch(expected) and _INTEGER.fullmatch(got):
        return int(expected) == int(got)
    if _DECIMAL.fullmatch(expected) and _DECIMAL.fullmatch(got):
        want, have = float(expected), float(got)
        if math.isinf(want) or math.isinf(have):
            return False  # too large to compare by tolerance; equal text was checked above
        return math.isclose(want, have, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return False


def _excerpt(token: str | None) -> str:
    if token is None:
        return "end of output"
    return repr(token if len(token) <= EXCERPT else token[:EXCERPT] + "...")


def compare_values(expected: Any, got: Any) -> str | None:
    """None when the JSON value ``got`` matches ``expected`` (policy above), else where and how
    it first differs. Iterative: values nest as deep as a JSON decoder allows."""
    pending = [("", expected, got)]
    while pending:
        path, want, have = pending.pop()
        if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
            pending += [
                (f"{path}[{i}]", w, h) for i, (w, h) in enumerate(zip(want, have, strict=True))
            ][::-1]
        elif isinstance(want, dict) and isinstance(have, dict) and want.keys() == have.keys():
            pending += [(f"{path}[{k!r}]", want[k], have[k]) for k in want][::-1]
        elif not _scalars_match(want, have):
            where = f"at {path}: " if path else ""
            return f"{where}expected {_value_excerpt(want)}, got {_value_excerpt(have)}"
    return None


def _scalars_match(expected: Any, got: Any) -> bool:
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(got, numbers):
        if isinstance(expected, int) and isinstance(got, int):
            return expected == got
        return math.isclose(expected, got, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return type(expected) is type(got) and expected == got and not isinstance(got, list | dict)


def _value_excerpt(value: Any) -> str:
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."
