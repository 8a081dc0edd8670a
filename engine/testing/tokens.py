"""The mock's tokenizer: a deterministic approximation of a BPE tokenizer's counts.

A token is a run of word characters (``\\w+``) or one other non-space character, so
``\\frac{3}{4}`` is 8 tokens and ``Let me check.`` is 4. English prose comes out near a real
tokenizer's count (about 5 characters a token), LaTeX somewhat above it; what matters for tests
is that counts are exact, repeatable and grow with the text.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    return TOKEN.subn("", text)[1]


def cut_tokens(text: str, limit: int) -> str:
    """The text up to the end of its ``limit``-th token (all of it when it has fewer)."""
    if limit <= 0:
        return ""
    for index, match in enumerate(TOKEN.finditer(text), 1):
        if index == limit:
            return text[: match.end()]
    return text
