"""Typed values the storage layer writes into shard indexes and compares on resume: a record's
outcome (counted per shard for ``status`` and the funnel) and the resume scope. Each is made and
read here only, so writers, ``status`` and restarts cannot disagree on a spelling."""

from __future__ import annotations

from typing import NamedTuple

import msgspec


class Outcome(NamedTuple):
    """How a record ended, per domain: a verdict status, ``failed:<kind>``, ``unverified``, an
    exclusion stage or ``scored``. Stored in indexes as the text ``domain:label``."""

    domain: str
    label: str

    def __str__(self) -> str:
        return f"{self.domain}:{self.label}"

    @classmethod
    def parse(cls, text: str) -> Outcome:
        domain, _, label = text.partition(":")
        return cls(domain, label)

    @classmethod
    def of_sample(cls, domain: str, verdict: str | None, failure: str | None) -> Outcome:
        if failure:
            return cls(domain, f"failed:{failure}")
        return cls(domain, verdict or "unverified")

    @classmethod
    def of_question(cls, domain: str, excluded_at: str | None) -> Outcome:
        """A question-keyed record: excluded at a stage, or scored."""
        return cls(domain, excluded_at or "scored")


class Scope(msgspec.Struct, frozen=True):
    """What a shard's complete-question ranges mean: valid only for the same samples recipe,
    the same curated question stream and the same n. A restart in another scope reads keys."""

    recipe_hash: str
    curation_hash: str
    n: int

    def encode(self) -> str:
        return f"{self.recipe_hash}:{self.curation_hash}:{self.n}"
