"""Multiple-choice answers: letter extraction, per-sample option shuffling, verification.

The letter comes from the final answer only, never from a letter mentioned in the reasoning:
the last explicit answer marker wins, whichever kind it is - a boxed letter (``\\boxed{B}``,
``\\boxed{\\text{(B)}}``), or an answer phrase ("The answer is (B)", "Answer: b", "the correct
option is **C**", "final answer: D) 5 m/s"). Without one, a line that is only a letter marker
("**B**", "(B)", "B) 42 kg") counts when it is the response's last line, or the first line
after a closed ``<think>`` block. "Option D is tempting" is a mention, not an answer. Text
inside ``<think>...</think>`` is never read, and an unclosed ``<think>`` is ``no_answer``. A
bare capital "A" in prose is an article, never an answer; lower case counts only after a
marker (a colon, "is", a parenthesis, bold).
"""

from __future__ import annotations

import random
import re

from verifiers.math.extract import UnfinishedThinking, final_text
from verifiers.math.normalize import matching_brace
from verifiers.verdict import Verdict

LETTERS = "ABCDEFGHIJ"

_L = rf"[{LETTERS}]"
_PHRASE = re.compile(
    r"(?:(?:final|correct|right|best)\s+)?(?:answer|option|choice)"
    r"(?:\s+(?:is|would\s+be|should\s+be|must\s+be))?\s*(?:\*\*)?\s*[:=]?\s*"
    rf"(?:\*\*|__|\$|\\text\{{|\\textbf\{{|\\boxed\{{|\s|(?:option|choice)\s+)*"
    rf"\(?({_L}|[a-j])\)?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# The phrase must say it is the answer: "answer ... X", or "correct option is X".
_EXPLICIT = re.compile(
    r"(?:(?:final|correct|right|best)\s+)?answer|(?:final|correct|right|best)\s+(?:option|choice)",
    re.IGNORECASE,
)
_MARKER_LINE = re.compile(rf"^\W*\(?({_L})\)?(?:\*\*)?(?:[).:]\s.*|[).:]?)\s*$")
_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_BOXED_LETTER = re.compile(rf"^\W*(?:\\text(?:bf)?\{{)?\W*({_L})\b(?!\s*[=^_])", re.IGNORECASE)


def extract_letter(response: str) -> str | None:
    """The chosen option letter (upper case), or None when the response names none."""
    letter, _ = _extract(response)
    return letter


def _extract(response: str) -> tuple[str | None, str]:
    text = final_text(response)
    marks = [*_boxed_letters(text), *_phrase_letters(text)]
    if marks:
        _, letter, method = max(marks)
        return letter, method
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    candidates = lines[-1:] + (lines[:1] if "</think>" in response else [])
    for line in candidates:
        match = _MARKER_LINE.match(line.replace("**", ""))
        if match and (line.startswith(("**", "(")) or len(line) <= 3 or ")" in line):
            return match.group(1), "marker_line"
    return None, ""


def _boxed_letters(text: str) -> list[tuple[int, str, str]]:
    """(position, letter, method) of every box whose content is an option letter."""
    found = []
    for box in _BOX.finditer(text):
        end = matching_brace(text, box.end() - 1)
        if end < 0:
            continue
        content = text[box.end() : end]
        match = _BOXED_LETTER.match(content)
        if match and len(re.sub(r"\\text(?:bf)?|[^A-Za-z]", "", content)) <= 41:
            found.append((box.start(), match.group(1).upper(), "boxed"))
    return found


def _phrase_letters(text: str) -> list[tuple[int, str, str]]:
    return [
        (match.start(1), match.group(1).upper(), "answer_phrase")
        for match in _PHRASE.finditer(text)
        if _EXPLICIT.match(match.group(0)) and _counts(match)
    ]


def _counts(match: re.Match[str]) -> bool:
    """Lower-case letters and an article "A" need the answer phrase to end with a marker."""
    letter = match.group(1)
    if letter.isupper() and letter != "A":
        return True
    tail = match.group(0)
    return bool(re.search(r"[:(*$]|\\text|\\boxed|\bis\b", tail, re.IGNORECASE)) and not (
        letter in "aA" and re.search(r"^[aA]\s+[a-z]", match.string[match.start(1) :])
    )


def shuffle_choices(choices: list[str], correct: str, seed: int) -> tuple[list[str], str]:
    """Options in a seeded random order and the letter of ``correct`` among them.

    Over seeds the correct letter is uniform over the options (A-D for GPQA), so no letter
    is favoured; the same seed always gives the same order (record it with the sample).
    """
    if not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"multiple choice needs 2 to {len(LETTERS)} options, got {len(choices)}")
    if choices.count(correct) != 1:
        raise ValueError(f"the correct answer must be exactly one of the options: {correct!r}")
    order = list(choices)
    random.Random(seed).shuffle(order)
    return order, LETTERS[order.index(correct)]


def verify(response: str, correct_letter: str) -> Verdict:
    """Passed when the response's chosen letter is ``correct_letter`` (case-insensitive)."""
    key = correct_letter.strip().upper()
    if len(key) != 1 or key not in LETTERS:
        raise ValueError(f"correct_letter must be one of {LETTERS}, got {correct_letter!r}")
    try:
        letter, method = _extract(response)
    except UnfinishedThinking as error:
        return Verdict(status="no_answer", detail=str(error))
    if letter is None:
        return Verdict(status="no_answer", detail="no option letter in the final answer")
    if letter == key:
        return Verdict(status="passed", answer=letter, method=method)
    return Verdict(
        status="wrong_answer", answer=letter, method=method, detail=f"expected {key}, got {letter}"
    )
