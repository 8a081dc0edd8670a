"""Token counts under a model's tokenizer, or a stated estimate where it cannot be loaded.

The tokenizer is loaded with ``transformers`` from local files only (a path, or a hub name
already in the local cache; nothing is downloaded). The estimate is UTF-8 bytes / 4 per message
plus 4 tokens per message for the chat template's markers: English prose and LaTeX run at
3.5-4.5 bytes a token in the BPE vocabularies of Qwen2.5 and Llama 3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from engine.records import Message

BYTES_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


class TokenizerUnavailable(Exception):
    """The tokenizer cannot be loaded here (no transformers, not on disk or in the cache)."""


class TokenCounter(Protocol):
    method: Literal["tokenizer", "estimate"]
    note: str

    def lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        """Each conversation's length as the trainer renders it."""
        ...

    def tokens(self, text: str) -> int:
        """The length of one message's text alone."""
        ...

    def cut(self, text: str, tokens: int) -> str:
        """The first ``tokens`` tokens of ``text``."""
        ...


class Estimate:
    """UTF-8 bytes / 4 per message plus the chat template's markers (see the module doc)."""

    method: Literal["tokenizer", "estimate"] = "estimate"

    def __init__(self, why: str):
        self.note = (
            f"estimated as UTF-8 bytes/{BYTES_PER_TOKEN} + {TOKENS_PER_MESSAGE} per message: {why}"
        )

    def lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        return [
            sum(self.tokens(m.content) + TOKENS_PER_MESSAGE for m in messages)
            for messages in conversations
        ]

    def tokens(self, text: str) -> int:
        return math.ceil(len(text.encode()) / BYTES_PER_TOKEN)

    def cut(self, text: str, tokens: int) -> str:
        return text.encode()[: tokens * BYTES_PER_TOKEN].decode(errors="ignore")


class Tokenizer:
    """A Hugging Face tokenizer, loaded from local files only."""

    method: Literal["tokenizer", "estimate"] = "tokenizer"

    def __init__(self, name: str):
        try:
            from transformers import AutoTokenizer
        except ImportError as error:
            raise TokenizerUnavailable(f"transformers is not installed ({error})") from None
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(name, local_files_only=True)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise TokenizerUnavailable(f"tokenizer {name!r} not available here: {first}") from None
        self.templated = bool(getattr(self.tokenizer, "chat_template", None))
        how = "its chat template" if self.templated else f"no chat template: +{TOKENS_PER_MESSAGE}"
        self.note = f"counted with the tokenizer of {name} ({how})"

    def lengths(self, conversations: Sequence[list[Message]]) -> list[int]:
        if self.templated:
            texts = [
                self.tokenizer.apply_chat_template(
                    [{"role": m.role, "content": m.content} for m in messages], tokenize=False
                )
                for messages in conversations
            ]
            return [len(ids) for ids in self._encode(texts)]
        flat = [m.content for messages in conversations for m in messages]
        counts = iter(len(ids) for ids in self._encode(flat))
        return [
            sum(next(counts) + TOKENS_PER_MESSAGE for _ in messages) for messages in conversations
        ]

    def tokens(self, text: str) -> int:
        (ids,) = self._encode([text])
        return len(ids)

    def cut(self, text: str, tokens: int) -> str:
        (ids,) = self._encode([text])
        return self.tokenizer.decode(ids[:tokens])

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]


def token_counter(name: str, required: bool) -> TokenCounter:
    """The tokenizer ``name`` when it loads; else an estimate, or an error when ``required``."""
    try:
        return Tokenizer(name)
    except TokenizerUnavailable as error:
        if required:
            raise
        return Estimate(str(error))
