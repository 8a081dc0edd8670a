"""The interface every teacher backend implements."""

from __future__ import annotations

from typing import Protocol

import msgspec

from engine.backends.limits import AIMDConcurrency
from engine.records import Failure, Message


class GenerationRequest(msgspec.Struct):
    """n samples for one prompt. ``seeds[i]`` is the seed of sample ``first_index + i``."""

    messages: list[Message]
    seeds: list[int]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = []
    first_index: int = 0

    @property
    def n(self) -> int:
        return len(self.seeds)


class Completion(msgspec.Struct):
    """One generated sample; ``index`` is its position in the request (0..n-1).
    ``tokens_estimated``: ``completion_tokens`` is an estimate, not a count."""

    index: int
    text: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False


class BackendError(Exception):
    """A request that failed for good (after retries); carries the typed failure."""

    def __init__(self, failure: Failure, attempts: int = 1):
        super().__init__(f"{failure.kind}: {failure.detail}")
        self.failure = failure
        self.attempts = attempts


class Generation(msgspec.Struct):
    completions: list[Completion]
    attempts: int = 1
    latency_s: float = 0.0


class Backend(Protocol):
    """A teacher. ``generate`` returns all n completions or raises BackendError. ``preflight``
    (before ``start``) says why the teacher would refuse every request, or None."""

    name: str
    model: str

    async def preflight(self) -> str | None: ...

    def limits(self) -> dict[str, AIMDConcurrency]:
        """The in-flight limiter of each endpoint (replica) by its URL, for /metrics."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def generate(self, request: GenerationRequest) -> Generation: ...
