"""Read a 1-10 rating out of a scorer model's free-text reply.

Models answer a rubric in many ways ("Difficulty: 7", "7/10", "**7**", "I'd rate this a 7",
``\\boxed{7}``). The patterns below are tried from the most to the least explicit and the last
match of the first pattern that matches wins (a model that changes its mind ends with the final
rating). Scale mentions ("1-10", "out of 10") and exponents ("10^5") are never read as ratings.
An explicit rating outside the scale is reported as such rather than replaced by a guess.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from verifiers.math.extract import UnfinishedThinking, final_text

_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_NUMBER = r"(?P<n>-?\d+(?:\.\d+)?(?![\d^])|" + "|".join(_WORDS) + r")\b"
_FILLER = r"(?:about|around|roughly|approximately|an?)?\s*"
_GAP = r"[^\w\-]{0,4}(?:is|of|[:=])?[^\w\-]{0,4}"  # ": ", "** is ", " = " (a hyphen is a sign)
_PATTERNS = (
    ("boxed", re.compile(r"\\boxed\s*\{\s*" + _NUMBER + r"\s*(?:/\s*10\s*)?\}")),
    (
        "difficulty",
        re.compile(
            r"difficulty(?:\s+(?:level|rating|score))?" + _GAP + _FILLER + _NUMBER,
            re.IGNORECASE,
        ),
    ),
    ("out_of_10", re.compile(_NUMBER + r"\s*(?:/|out\s+of)\s*10\b", re.IGNORECASE)),
    (
        "label",
        re.compile(
            r"\b(?:rating|score|grade)" + _GAP + _FILLER + _NUMBER,
            re.IGNORECASE,
        ),
    ),
    (
        "phrase",
        re.compile(
            r"\b(?:rate|give|assign|put|score|call)\w*\s+(?:(?:it|this|the|problem|one)\s+)*"
            r"(?:an?|as|at)\s+" + _NUMBER,
            re.IGNORECASE,
        ),
    ),
    ("bold", re.compile(r"\*\*\s*" + _NUMBER + r"\s*\*\*")),
)
_SCALE = re.compile(
    r"\b1\s*(?:-|–|to)\s*10\b|(?:/|\bout\s+of)\s*10\b|\d+\s*\^\s*\{?\d+\}?", re.IGNORECASE
)
_LOOSE_NUMBER = re.compile(r"(?<![\w.^])(\d+(?:\.\d+)?)(?![\w^]|\.\d)")


class Rating(msgspec.Struct, frozen=True):
    """A rating and the pattern that found it (``boxed``, ``difficulty``, ..., ``last_number``)."""

    value: float
    method: str


class NoRating(msgspec.Struct, frozen=True):
    """Why a reply holds no usable rating."""

    reason: Literal["no_rating", "out_of_range", "unfinished_thinking"]
    detail: str = ""


def parse_rating(reply: str, low: int = 1, high: int = 10) -> Rating | NoRating:
    """The rating in ``reply`` (``<think>`` blocks are skipped), or why there is none."""
    try:
        text = final_text(reply)
    except UnfinishedThinking:
        return NoRating("unfinished_thinking", "the reply ends inside a <think> block")
    for method, pattern in _PATTERNS:
        matches = list(pattern.finditer(text))
        if matches:
            raw = matches[-1]["n"]
            value = float(_WORDS.get(raw.lower()) or raw)
            if low <= value <= high:
                return Rating(value, method)
            return NoRating("out_of_range", f"{method} rating {raw} is outside {low}-{high}")
    loose = [float(n) for n in _LOOSE_NUMBER.findall(_SCALE.sub(" ", text))]
    in_range = [value for value in loose if low <= value <= high]
    if in_range:
        return Rating(in_range[-1], "last_number")
    return NoRating("no_rating", f"no number in {low}-{high} in the reply: {_excerpt(text)}")


def _excerpt(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
