"""Difficulty ratings (engine.scoring's rubric): a known rating per problem, said in varied ways
after a distractor sentence full of other numbers, so tests exercise the reply parser end to end."""

from __future__ import annotations

import hashlib

from engine.scoring.rubric import PROBLEM_CLOSE, PROBLEM_OPEN, RATING_LINE

_PHRASES = ("Difficulty: {}", "I'd rate this a {}/10.", "**{}**", "So: $\\boxed{{{}}}$")


def _problem_hash(problem: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(problem.strip().encode(), digest_size=8).digest(), "little"
    )


def is_rating_prompt(prompt: str) -> bool:
    return RATING_LINE in prompt


def mock_rating(problem: str) -> int:
    """The 1-10 rating the mock gives ``problem`` under a difficulty rubric."""
    return 1 + _problem_hash(problem) % 10


def rating_reply(prompt: str) -> str:
    """A rubric reply: the rating of the text between the problem tags (or the whole prompt)."""
    start, end = prompt.find(PROBLEM_OPEN), prompt.rfind(PROBLEM_CLOSE)
    problem = prompt[start + len(PROBLEM_OPEN) : end] if 0 <= start < end else prompt
    phrase = _PHRASES[_problem_hash(problem) // 10 % len(_PHRASES)]
    reasons = "Up to 10^5 values and 2 query types: level 3 to 5 techniques."
    return f"{reasons}\n\n{phrase.format(mock_rating(problem))}"
