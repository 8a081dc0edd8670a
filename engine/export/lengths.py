"""Trace lengths in the target model's tokens, and what happens to traces over the cutoff.

A trace is counted as the trainer sees it, the whole conversation rendered by the tokenizer's
chat template, when the tokenizer is available here; otherwise the length is an estimate and the
report says so (engine.tokenizer).

Over the cutoff, ``drop`` (the default) leaves the trace out, ``keep`` exports it whole (the
trainer will truncate or split it), and ``cut`` shortens the assistant turn to fit, so the
trace ends mid-thought, without its final answer, and is marked ``cut``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import msgspec

from engine.records import Message
from engine.specs import OverCutoff
from engine.tokenizer import TokenCounter

EDGES = (512, 1024, 2048, 4096, 8192, 16384, 32768)  # histogram bucket tops, in tokens


def bucket(tokens: int) -> str:
    """The histogram label of a length: ``<=512`` .. ``<=32768``, ``>32768``."""
    for edge in EDGES:
        if tokens <= edge:
            return f"<={edge}"
    return f">{EDGES[-1]}"


class LengthReport(msgspec.Struct):
    """Lengths per domain before the policy, and what the policy did with long traces."""

    method: Literal["tokenizer", "estimate"]
    note: str
    cutoff_len: int
    over_cutoff: OverCutoff
    histogram: dict[str, dict[str, int]]
    over: dict[str, int]
    dropped: dict[str, int]
    cut: dict[str, int]
    max_tokens: dict[str, int]


class LengthPolicy:
    """Counts each batch of traces, applies the cutoff policy and tallies what it did."""

    def __init__(self, counter: TokenCounter, cutoff_len: int, over_cutoff: OverCutoff):
        self.counter = counter
        self.cutoff_len = cutoff_len
        self.over_cutoff = over_cutoff
        self.histogram: dict[str, Counter[str]] = {}
        self.over: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.cuts: Counter[str] = Counter()
        self.longest: Counter[str] = Counter()

    def apply(
        self, domains: Sequence[str], conversations: Sequence[list[Message]]
    ) -> list[tuple[list[Message], int, bool] | None]:
        """Per trace: None to leave it out, else (messages, token length, cut)."""
        out: list[tuple[list[Message], int, bool] | None] = []
        for domain, messages, tokens in zip(
            domains, conversations, self.counter.lengths(conversations), strict=True
        ):
            self.histogram.setdefault(domain, Counter())[bucket(tokens)] += 1
            self.longest[domain] = max(self.longest[domain], tokens)
            if tokens > self.cutoff_len:
                self.over[domain] += 1
            if tokens <= self.cutoff_len or self.over_cutoff == "keep":
                out.append((messages, tokens, False))
                continue
            shortened = self._cut(messages, tokens) if self.over_cutoff == "cut" else None
            if shortened is None:
                self.dropped[domain] += 1
            else:
                self.cuts[domain] += 1
            out.append(shortened)
        return out

    def _cut(self, messages: list[Message], tokens: int) -> tuple[list[Message], int, bool] | None:
        """The trace with its last (assistant) turn shortened to fit, or None if the prompt
        alone does not fit. Cutting and re-rendering can differ by a token: shrink until it fits."""
        *prompt, answer = messages
        budget = self.cutoff_len - (tokens - self.counter.tokens(answer.content))
        while budget > 0:
            shortened = [*prompt, Message(answer.role, self.counter.cut(answer.content, budget))]
            (length,) = self.counter.lengths([shortened])
            if length <= self.cutoff_len:
                return shortened, length, True
            budget -= max(1, length - self.cutoff_len)
        return None

    def report(self) -> LengthReport:
        return LengthReport(
            method=self.counter.method,
            note=self.counter.note,
            cutoff_len=self.cutoff_len,
            over_cutoff=self.over_cutoff,
            histogram={
                domain: {bucket(edge): counts[bucket(edge)] for edge in (*EDGES, EDGES[-1] + 1)}
                for domain, counts in sorted(self.histogram.items())
            },
            over=dict(self.over),
            dropped=dict(self.dropped),
            cut=dict(self.cuts),
            max_tokens=dict(self.longest),
        )
