"""Exact duplicates: a hash of the normalized problem text, mapped to the first question kept."""

from __future__ import annotations

import hashlib
import unicodedata


def exact_key(text: str) -> int:
    """64-bit digest of the text after NFKC, case folding and removing all whitespace.

    Whitespace is dropped, not collapsed, so "x + 1" and "x+1" match; punctuation is kept, so
    "x + 1" and "x - 1" do not.
    """
    normalized = "".join(unicodedata.normalize("NFKC", text).casefold().split())
    return int.from_bytes(hashlib.blake2b(normalized.encode(), digest_size=8).digest(), "little")


class ExactIndex:
    """Keys of the kept questions, each with the id of the question that claimed it."""

    def __init__(self) -> None:
        self._kept: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: int) -> str | None:
        return self._kept.get(key)

    def add(self, key: int, question_id: str) -> None:
        self._kept.setdefault(key, question_id)
