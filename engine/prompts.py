"""Prompt rendering and per-sample seeds."""

from __future__ import annotations

import hashlib

from engine.records import Message, Question
from engine.specs import PromptSpec

_SEED_SPACE = 2**31 - 2**16  # fits int32 with room for ``seed + i`` children


def question_seed(job_seed: int, question_id: str) -> int:
    """Base seed of a question; sample i uses ``question_seed + i``."""
    digest = hashlib.blake2b(f"{job_seed}:{question_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _SEED_SPACE


def render(prompt: PromptSpec, problem: str) -> list[Message]:
    """System message (when set) and the user message with ``{problem}`` filled in."""
    user = Message("user", prompt.user.replace("{problem}", problem))
    return [Message("system", prompt.system), user] if prompt.system else [user]


def with_options(question: Question, options: list[str]) -> str:
    """A multiple-choice problem followed by its lettered options."""
    lines = [question.problem.rstrip(), ""]
    lines += [f"{chr(ord('A') + i)}) {option}" for i, option in enumerate(options)]
    return "\n".join(lines)
