"""Multiple-choice answers: letter extraction, per-sample option shuffling, verification.

Extraction prefers, in order: a boxed letter, the last explicit answer phrase ("The answer is
(B)", "Answer: b", "correct option is **C**"), a last line that is only a letter marker
("**B**", "(B)", "B) text"), then the last marked mention ("(B)", "option B"). A bare capital
"A" in prose is an article, never an answer; lower case counts only after an answer phrase.
"""

from __future__ import annotations

import random
import re

from verifiers.math.extract import UnfinishedThinking, final_text, last_boxed
from verifiers.verdict import Verdict

LETTERS = "ABCDEFGHIJ"

_L = rf"[{LETTERS}]"
_PHRASE = re.compile(
    r"(?:final\s+answer|correct\s+(?:answer|option|choice)|answer|option|choice)"
    r"(?:\s+(?:is|would\s+be|should\s+be))?\s*[:=]?\s*"
    rf"(?:\*\*|__|\$|\\text\{{|\\boxed\{{|\s)*\(?({_L}|[a-j])\)?(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_MARKER_LINE = re.compile(rf"^\W*\(?({_L})\)?(?:\*\*)?(?:[).:]\s.*|[).:]?)\s*$")
_MENTION = re.compile(rf"\(({_L})\)|\*\*({_L})\*\*|(?:option|choice)\s+({_L})\b", re.IGNORECASE)
_BOXED_LETTER = re.compile(rf"^\W*(?:\\text\{{)?\W*({_L})\b", re.IGNORECASE)


def extract_letter(response: str) -> str | None:
    """The chosen option letter (upper case), or None when the response names none."""
    letter, _ = _extract(response)
    return letter


def _extract(response: str) -> tuple[str | None, str]:
    text = final_text(response)
    boxed = last_boxed(text)
    if boxed is not None:
        match = _BOXED_LETTER.match(boxed)
        if match and len(re.sub(r"\\text|[^A-Za-z]", "", boxed)) <= len(match.group(1)) + 40:
            return match.group(1).upper(), "boxed"
    phrases = [m for m in _PHRASE.finditer(text) if _counts(m)]
    if phrases:
        return phrases[-1].group(1).upper(), "answer_phrase"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines:
        match = _MARKER_LINE.match(lines[-1].replace("**", ""))
        if match and (lines[-1].startswith(("**", "(")) or len(lines[-1]) <= 3 or ")" in lines[-1]):
            return match.group(1), "marker_line"
    mentions = list(_MENTION.finditer(text))
    if mentions:
        last = mentions[-1]
        return next(g for g in last.groups() if g).upper(), "last_mention"
    return None, ""


def _counts(match: re.Match[str]) -> bool:
    """Lower-case letters and an article "A" need the answer phrase to end with a marker."""
    letter = match.group(1)
    if letter.isupper() and letter != "A":
        return True
    tail = match.group(0)
    return bool(re.search(r"[:(*$]|\\text|\\boxed|\bis\b", tail, re.IGNORECASE)) and not (
        letter == "a" and re.search(r"\ba\s+[a-z]", match.string[match.start(1) :])
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
        return Verdict(status="no_answer", detail="no option letter found")
    if letter == key:
        return Verdict(status="passed", answer=letter, method=method)
    return Verdict(
        status="wrong_answer", answer=letter, method=method, detail=f"expected {key}, got {letter}"
    )
