"""Typed values the storage layer writes into shard indexes and compares on resume: a record's
outcome (counted per shard for ``status`` and the funnel) and the resume scope. Each is made and
read here only, so writers, ``status`` and restarts cannot disagree on a spelling."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from engine.records import Failure

#: failures a rerun asks again for: the teacher or the network, not the request or the answer
RETRYABLE = frozenset({"connection", "timeout", "server_error", "rate_limited", "bad_response"})


def retryable_failure(
    failure: Failure | None, verdict: str | None, verdict_detail: str = ""
) -> Failure | None:
    """The failure a rerun retries this record for: a retryable teacher failure, or a verdict
    of ``infra_error`` (the verifier broke, not the answer); None when the record is final."""
    if failure is not None:
        return failure if failure.kind in RETRYABLE else None
    if verdict == "infra_error":
        return Failure("infra_error", verdict_detail)
    return None


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
    """What a shard's complete-question ranges mean. They are ordinals in the sampled question
    stream, so they are trusted only for the same samples recipe, the same n and the same
    ``stream``: a fingerprint of what the stream is read from (the curation recipe and each
    source file's size and mtime, or the saved selection). An empty ``stream`` (one that cannot
    be fingerprinted, such as a hub dataset) trusts no ranges. A restart in another scope reads
    every key instead: slower, and keyed by what each record is."""

    recipe_hash: str
    stream: str
    n: int

    @property
    def trusts_ranges(self) -> bool:
        return bool(self.stream)

    def encode(self) -> str:
        return f"{self.recipe_hash}:{self.stream}:{self.n}"
