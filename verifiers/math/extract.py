"""Find the final answer in a model response or a gold solution.

The last answer marker wins, whichever kind it is: the last ``\\boxed{}``/``\\fbox{}`` (with
the boxes right before it when they list several answers), or a "final answer is ..." /
"Answer: ..." phrase written after it (a phrase overrides a box only with a value that is not
prose: "the answer is not 13" does not). Without a marker: the whole text when it is a bare
answer, the last LaTeX math span of the last paragraph, and finally its last number that is
not part of a word (``QWERTY7B`` holds none). A span that only names the unknown ("the
smallest $k$ is 12") gives the value that follows it, and a prose answer phrase with one
number in it ("the answer is Bob left 5 minutes later") gives the number.
Reasoning inside ``<think>...</think>`` is never graded.

``Extraction.parts`` are every box (or every span of the final paragraph) in order: a grader
may join the last few when the gold lists several answers given separately.
"""

from __future__ import annotations

import re

import msgspec

from verifiers.math.normalize import matching_brace, normalize
from verifiers.math.parse import FUNCTIONS


class Extraction(msgspec.Struct, frozen=True):
    """An answer found in a text, how it was found (``boxed``, ``answer_phrase``, ...), and
    the separate answer pieces around it (see the module doc)."""

    answer: str
    method: str
    parts: tuple[str, ...] = ()


class UnfinishedThinking(ValueError):
    """The response opened a ``<think>`` block and never closed it."""


_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
# Between boxes that list one answer together: "\boxed{3} and \boxed{5}", "$x = \boxed{3}$ or
# $x = \boxed{-4}$".
_BOX_JOINER = re.compile(
    r"\s*(?:,|;|\$|\\text\{\s*(?:and|or|,)\s*\}|and|or|\\quad|\\,|\s"
    r"|[A-Za-z](?:_\{?\w+\}?)?\s*=)*\s*"
)
_ANSWER_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=|would\s+be|should\s+be)?\s*[:=]?\s*",
    re.IGNORECASE,
)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
# A number standing on its own: not a piece of a word or identifier (QWERTY7B, x2, 5th).
_NUMBER = re.compile(
    r"(?<![\w.])(?:-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?|-?\.\d+)"
    r"(?!\.?\w)"
)
# A span that only names the unknown: k, x_1, f(x), a_{n}.
_LONE_NAME = re.compile(r"[A-Za-z](?:_\{?\w+\}?)?(?:\([^()]*\))?'?")
_NEGATION = re.compile(r"\b(?:not|never|no|cannot|isn't|can't|wrong|incorrect)\b", re.I)
_MARKDOWN = re.compile(r"\*\*|__|`")
_SENTENCE_END = re.compile(r"(?<!\d)\.(?!\d)|[!?;\n]")
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
    boxes = _boxes(text)
    phrase = _answer_phrase(text)
    if boxes:
        _, group_end, boxed = _last_group(text, boxes)
        parts = tuple(content for _, _, content in boxes)
        if phrase is not None and phrase[0] >= group_end and not _has_prose(normalize(phrase[1])):
            return Extraction(phrase[1], "answer_phrase", parts)
        return Extraction(boxed, "boxed", parts)
    if phrase is not None:
        value = phrase[1]
        return Extraction(_number_in_prose(value) or value, "answer_phrase")
    stripped = text.strip()
    if stripped and len(stripped) <= _BARE_ANSWER_CHARS and "\n" not in stripped:
        spans = _math_spans(stripped)
        if len(spans) == 1 and stripped.startswith(("$", "\\(", "\\[")):
            return Extraction(spans[0], "latex")
        if not spans and not _has_prose(stripped):
            return Extraction(stripped, "bare")
    last_paragraph = stripped.rsplit("\n\n", 1)[-1]
    spans = list(_MATH_SPAN.finditer(last_paragraph))
    if spans:
        value = _value_after_name(last_paragraph, spans[-1])
        parts = tuple(_span_text(span) for span in spans)
        return Extraction(value or parts[-1], "latex", parts)
    numbers = _NUMBER.findall(last_paragraph)
    if numbers:
        return Extraction(numbers[-1], "last_number")
    return None


def gold_answer(gold: str) -> str:
    """The answer part of a gold: its last box for a worked solution, else the whole string
    (empty when its only boxes are empty)."""
    boxed = last_boxed(gold)
    if boxed is not None:
        return boxed
    return "" if _BOX.search(gold) and "{}" in gold else gold.strip()


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``; adjacent boxes ("\\boxed{3} and \\boxed{5}") join."""
    boxes = _boxes(text)
    return _last_group(text, boxes)[2] if boxes else None


def _last_group(text: str, boxes: list[tuple[int, int, str]]) -> tuple[int, int, str]:
    """(start, end, joined content) of the last box and the boxes listed right before it."""
    group = [boxes[-1]]
    for previous in reversed(boxes[:-1]):
        gap = text[previous[1] : group[0][0]]
        if not _BOX_JOINER.fullmatch(gap):
            break
        group.insert(0, previous)
    return group[0][0], group[-1][1], ", ".join(content for _, _, content in group)


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every box, in order."""
    found: list[tuple[int, int, str]] = []
    for match in _BOX.finditer(text):
        start = match.end()
        if start < len(text) and text[start] == "{":
            end = matching_brace(text, start)
            if end < 0:
                continue
            if content := text[start + 1 : end].strip():
                found.append((match.start(), end + 1, content))
        else:
            bare = re.match(r"[^\s$]+", text[start:])
            if bare:
                found.append((match.start(), start + bare.end(), bare.group(0)))
    return found


def _has_prose(text: str) -> bool:
    """True when a short text has words beyond math names: "I think 42", not "3\\sqrt{2}"."""
    without_commands = re.sub(
        r"\\(?:text|mbox|mathrm|begin|end)\s*\{[^}]*\}|\\[a-zA-Z]+", " ", text
    )
    words = re.findall(r"[A-Za-z]{3,}", without_commands)
    return any(word.lower() not in _MATH_WORDS for word in words)


def _span_text(match: re.Match[str]) -> str:
    return next(g for g in match.groups() if g is not None).strip()


def _math_spans(text: str) -> list[str]:
    return [_span_text(m) for m in _MATH_SPAN.finditer(text)]


def _value_after_name(text: str, span: re.Match[str]) -> str | None:
    """The value given for a span that only names the unknown, later in its sentence."""
    if not _LONE_NAME.fullmatch(_span_text(span)):
        return None
    rest = text[span.end() :]
    end = _SENTENCE_END.search(rest)
    sentence = rest[: end.start()] if end else rest
    if _NEGATION.search(sentence):
        return None
    value = _MATH_SPAN.search(sentence) or _NUMBER.search(sentence)
    if value is None:
        return None
    found = _span_text(value) if value.re is _MATH_SPAN else value.group(0)
    return None if _LONE_NAME.fullmatch(found) else found


def _number_in_prose(value: str) -> str | None:
    """The one number of a prose answer ("Bob left 5 minutes later"), if it has one."""
    if not _has_prose(value) or _MATH_SPAN.search(value) or _NEGATION.search(value):
        return None
    numbers = _NUMBER.findall(value)
    return numbers[0] if len(numbers) == 1 else None


def _answer_phrase(text: str) -> tuple[int, str] | None:
    """(position, value) of the last answer phrase that gives a value."""
    matches = list(_ANSWER_PHRASE.finditer(text))
    for match in reversed(matches):
        line = text[match.end() :].split("\n", 1)[0]
        rest = _MARKDOWN.sub("", line).strip()
        spans = list(_MATH_SPAN.finditer(rest))
        if spans:
            if _only_spans_and_joiners(rest):
                return match.end(), ", ".join(map(_span_text, spans))
            named = _value_after_name(rest, spans[0])
            return match.end(), named or _span_text(spans[0])
        rest = re.split(r"\.(?=\s|$)|(?<!\d)\.(?!\d)", rest, maxsplit=1)[0].strip()
        if rest and re.search(r"[\d\\(]|^[A-Za-z]\W*$|^[A-Za-z]{1,3}\b", rest):
            return match.end(), rest
    return None


def _only_spans_and_joiners(text: str) -> bool:
    remainder = _MATH_SPAN.sub("", text)
    return re.fullmatch(r"[\s,;.]*(?:(?:and|or)[\s,;.]*)*", remainder) is not None
