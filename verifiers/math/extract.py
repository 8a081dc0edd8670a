"""Find the final answer in a model response or a gold solution.

Order of preference: the last ``\\boxed{}``/``\\fbox{}`` (with the boxes right before it when
they list several answers), a "final answer is ..." / "Answer: ..." phrase, the whole text when
it is a bare answer, the last LaTeX math span of the last paragraph, and finally the last
number. Reasoning inside ``<think>...</think>`` is never graded.
"""

from __future__ import annotations

import re

import msgspec

from verifiers.math.normalize import matching_brace
from verifiers.math.parse import FUNCTIONS


class Extraction(msgspec.Struct, frozen=True):
    """An answer found in a text, and how it was found (``boxed``, ``answer_phrase``, ...)."""

    answer: str
    method: str


class UnfinishedThinking(ValueError):
    """The response opened a ``<think>`` block and never closed it."""


_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_BOX_JOINER = re.compile(r"\s*(?:,|;|\$|\\text\{\s*(?:and|or|,)\s*\}|and|or|\\quad|\\,|\s)*\s*")
_ANSWER_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=|would\s+be|should\s+be)?\s*[:=]?\s*",
    re.IGNORECASE,
)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?|-?\.\d+")
_BARE_ANSWER_CHARS = 120
_MATH_WORDS = set(FUNCTIONS) | {"pi", "inf", "infty", "infinity", "and"}


def final_text(response: str) -> str:
    """The part of a response that is graded: what follows the last ``</think>``."""
    closed = response.rfind("</think>")
    if closed >= 0:
        return response[closed + len("</think>") :]
    if "<think>" in response:
        raise UnfinishedThinking("response ends inside an unclosed <think> block")
    return response


def extract_answer(text: str) -> Extraction | None:
    """The final answer of ``text`` (None when there is none)."""
    boxed = last_boxed(text)
    if boxed:
        return Extraction(boxed, "boxed")
    phrase = _answer_phrase(text)
    if phrase:
        return Extraction(phrase, "answer_phrase")
    stripped = text.strip()
    if stripped and len(stripped) <= _BARE_ANSWER_CHARS and "\n" not in stripped:
        spans = _math_spans(stripped)
        if len(spans) == 1 and stripped.startswith(("$", "\\(", "\\[")):
            return Extraction(spans[0], "latex")
        if not spans and not _has_prose(stripped):
            return Extraction(stripped, "bare")
    last_paragraph = stripped.rsplit("\n\n", 1)[-1]
    spans = _math_spans(last_paragraph)
    if spans:
        return Extraction(spans[-1], "latex")
    numbers = _NUMBER.findall(stripped)
    if numbers:
        return Extraction(numbers[-1], "last_number")
    return None


def gold_answer(gold: str) -> str:
    """The answer part of a gold: its last box for a worked solution, else the whole string."""
    boxed = last_boxed(gold)
    return boxed if boxed is not None else gold.strip()


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``; adjacent boxes ("\\boxed{3} and \\boxed{5}") join."""
    boxes = _boxes(text)
    if not boxes:
        return None
    group = [boxes[-1]]
    for previous in reversed(boxes[:-1]):
        gap = text[previous[1] : group[0][0]]
        if not _BOX_JOINER.fullmatch(gap):
            break
        group.insert(0, previous)
    return ", ".join(content for _, _, content in group)


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every box, in order."""
    found: list[tuple[int, int, str]] = []
    for match in _BOX.finditer(text):
        start = match.end()
        if start < len(text) and text[start] == "{":
            end = matching_brace(text, start)
            if end < 0:
                continue
            found.append((match.start(), end + 1, text[start + 1 : end].strip()))
        else:
            bare = re.match(r"[^\s$]+", text[start:])
            if bare:
                found.append((match.start(), start + bare.end(), bare.group(0)))
    return found


def _has_prose(text: str) -> bool:
    """True when a short text has words beyond math names: "I think 42", not "3\\sqrt{2}"."""
    without_commands = re.sub(r"\\(?:text|mbox|mathrm)\{[^}]*\}|\\[a-zA-Z]+", " ", text)
    words = re.findall(r"[A-Za-z]{3,}", without_commands)
    return any(word.lower() not in _MATH_WORDS for word in words)


def _math_spans(text: str) -> list[str]:
    return [next(g for g in m.groups() if g is not None).strip() for m in _MATH_SPAN.finditer(text)]


def _answer_phrase(text: str) -> str | None:
    matches = list(_ANSWER_PHRASE.finditer(text))
    for match in reversed(matches):
        rest = text[match.end() :].split("\n", 1)[0].strip()
        spans = _math_spans(rest)
        if spans:
            return ", ".join(spans) if _only_spans_and_joiners(rest) else spans[0]
        rest = re.split(r"\.(?=\s|$)|(?<!\d)\.(?!\d)", rest, maxsplit=1)[0].strip()
        if rest and re.search(r"[\d\\(]|^[A-Za-z]\W*$|^[A-Za-z]{1,3}\b", rest):
            return rest
    return None


def _only_spans_and_joiners(text: str) -> bool:
    remainder = _MATH_SPAN.sub("", text)
    return re.fullmatch(r"[\s,;.]*(?:(?:and|or)[\s,;.]*)*", remainder) is not None
