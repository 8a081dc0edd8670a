"""Records that flow through the pipeline and land in shards (msgspec Structs, JSON on disk)."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import msgspec

from verifiers.verdict import Verdict

Domain = Literal["math", "code", "science"]
DOMAINS: tuple[Domain, ...] = ("math", "code", "science")


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
    # only in Sample.history:
    "infra_error",  # the verifier failed (the sample's verdict was infra_error)
    "lost",  # the record was in a damaged shard (quarantined) and is made again
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
    history: list[
        Failure
    ] = []  # earlier attempts of this sample (retried on a rerun), oldest first

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.question_id, self.sample_index, self.recipe_hash)


# Exclusions: a question dropped before sampling, with the typed reason of the stage that did it.


class Contamination(msgspec.Struct, kw_only=True, tag="contamination"):
    """Why a question was dropped: which benchmark item it matched, how, and the evidence."""

    question_id: str
    benchmark: str
    item_id: str
    method: Literal["ngram", "fuzzy"]
    score: float  # shared n-grams (ngram) or fuzzy ratio 0-100 (fuzzy)
    evidence: str  # the first shared n-gram, or the opening of the benchmark problem


class Duplicate(msgspec.Struct, kw_only=True, tag="duplicate"):
    """Why a question was dropped: the kept question it repeats, and how closely."""

    question_id: str
    kept_id: str
    method: Literal["exact", "near"]
    similarity: float  # 1.0 for exact, else the estimated Jaccard similarity


UnscoredReason = Literal[
    "backend",  # the scorer request failed for good (see ``failure``)
    "truncated",  # the rating reply hit rating_max_tokens before its rating
    "no_rating",  # the reply holds no number on the scale
    "out_of_range",  # the reply gives a rating off the scale
    "unfinished_thinking",  # the reply ends inside a <think> block
    "empty",  # the sampled answer is empty (length scorer)
]


class Unscored(msgspec.Struct, kw_only=True, tag="unscored"):
    """Why a question got no score from a scoring stage."""

    question_id: str
    stage: str
    reason: UnscoredReason
    detail: str = ""
    failure: Failure | None = None


NotSelectedReason = Literal["below_top_n", "no_score"]


class NotSelected(msgspec.Struct, kw_only=True, tag="not_selected"):
    """Why a question did not make the top-N selection."""

    question_id: str
    domain: Domain
    reason: NotSelectedReason
    score: float | None = None
    detail: str = ""


class BadRow(msgspec.Struct, kw_only=True, tag="bad_row"):
    """Why a source row became no question (``on_bad_row = "skip"``): where it is and what is
    wrong with it. ``line`` counts rows for Parquet and datasets."""

    question_id: str  # the row's place, SOURCE@FILE:LINE (a bad row has no id of its own)
    file: str
    line: int
    detail: str


class RepeatedId(msgspec.Struct, kw_only=True, tag="repeated_id"):
    """Why a row was dropped: an earlier row of the job has its question id, and is kept."""

    question_id: str  # this row's place, SOURCE@FILE:LINE (its id belongs to the kept row)
    id: str  # the question id both rows map to
    kept: str  # FILE:LINE of the kept row
    row: str  # FILE:LINE of this row


Reason = Contamination | Duplicate | Unscored | NotSelected | BadRow | RepeatedId

ExclusionStage = Literal["intake", "decont", "dedup", "score", "select"]


class Excluded(msgspec.Struct, omit_defaults=True):
    """An exclusion record (``NAME_excluded`` shards): the question, the stage, the reason."""

    question_id: str
    domain: Domain
    source: str
    stage: ExclusionStage
    reason: Reason
    problem: str


JobState = Literal["running", "finished", "interrupted", "failed"]


class ModelUsage(msgspec.Struct):
    """Tokens one model was sent and gave back, and their cost at the recipe's prices."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: ModelUsage) -> ModelUsage:
        return ModelUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )


class Manifest(msgspec.Struct, omit_defaults=True):
    """``manifest.json``: the recipe that made the output, its state and counts."""

    name: str
    recipe_hash: str
    recipe: dict[str, Any]
    state: JobState = "running"
    created: float = 0.0
    updated: float = 0.0
    previous_hashes: list[str] = []
    records: int = 0
    shards: int = 0
    outcomes: dict[str, int] = {}
    funnel: dict[str, Any] = {}
    questions_total: int | None = None  # questions the job reads, once counted (local sources)
    usage: dict[str, ModelUsage] = {}  # by model, summed over every run of the output
