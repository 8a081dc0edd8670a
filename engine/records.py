"""Records that flow through the pipeline and land in shards (msgspec Structs, JSON on disk)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import msgspec

from verifiers.verdict import Verdict

Domain = Literal["math", "code", "science"]


class Score(msgspec.Struct, omit_defaults=True):
    """Provenance of one filter score: which stage gave it, the value, and how."""

    stage: str
    value: float
    detail: str = ""


class Question(msgspec.Struct, omit_defaults=True):
    """A problem to sample answers for.

    tests: code tests as the source gives them, e.g. ``[{"input": .., "output": ..}]`` for
    stdin/stdout, or ``{"functional": "def check(candidate): ..."}`` for function-call tests.
    choices: for multiple choice (science), the options; ``answer`` is then the correct option text.
    """

    id: str
    domain: Domain
    source: str
    problem: str
    answer: str | None = None
    tests: Any = None
    choices: list[str] | None = None
    tags: list[str] = []
    metadata: dict[str, Any] = {}
    scores: list[Score] = []


def content_id(source: str, problem: str) -> str:
    """Stable question id derived from the content when a source gives none."""
    digest = hashlib.blake2b(problem.strip().encode(), digest_size=10).hexdigest()
    return f"{source}:{digest}"


class Message(msgspec.Struct):
    role: str
    content: str


class Usage(msgspec.Struct):
    """This sample's own token counts; ``estimated``: completion_tokens is an estimate (the
    server gave one total for n samples and no tokenizer was at hand; see openai_http)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False


class Teacher(msgspec.Struct):
    backend: str
    model: str


FailureKind = Literal[
    "rate_limited",  # 429s outlasted the retry budget
    "server_error",  # 5xx outlasted the retry budget
    "timeout",
    "connection",
    "bad_response",  # unparseable body
    "client_error",  # 4xx other than 429: not retried
    "truncated",  # finish_reason=length under the drop policy
    "backend",  # in-process backend raised
    "early_stopped",  # not requested: enough answers of the question passed already
]


class Failure(msgspec.Struct):
    """Typed reason a sample has no completion."""

    kind: FailureKind
    detail: str = ""
    status: int | None = None


class Sample(msgspec.Struct):
    """One teacher answer (or typed failure) for one question; the unit of exactly-once output.
    Every field is written, null included, so each shard has one schema (Arrow, ``datasets``)."""

    question_id: str
    sample_index: int
    recipe_hash: str
    seed: int
    domain: Domain
    teacher: Teacher
    messages: list[Message]
    completion: str | None = None
    finish_reason: str | None = None
    truncated: bool = False
    usage: Usage = msgspec.field(default_factory=Usage)
    latency_s: float = 0.0
    attempts: int = 1
    failure: Failure | None = None
    verdict: Verdict | None = None
    mcq_key: str | None = None  # correct letter after this sample's option shuffle (seed = seed)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.question_id, self.sample_index, self.recipe_hash)
