"""Every config section as a msgspec Struct on one base: unknown keys are errors, value ranges
live in the types, defaults fill the rest. Decoded once, at the edge (engine.config)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from engine.records import Domain
from engine.scoring.rubric import RUBRIC_SYSTEM, RUBRIC_USER

# Value ranges, named once. Upper bounds keep a typo (1e9 in flight, n = 10**30, inf seconds)
# from exhausting memory or file descriptors, or waiting forever, instead of failing at the edge.
WEEK_S = 7 * 24 * 3600.0
Count = Annotated[int, Meta(ge=1, le=1 << 20)]
NonNegative = Annotated[int, Meta(ge=0)]
Seconds = Annotated[float, Meta(gt=0, le=WEEK_S)]
Wait = Annotated[float, Meta(ge=0, le=WEEK_S)]
Fraction = Annotated[float, Meta(ge=0, le=1)]
Temperature = Annotated[float, Meta(ge=0, le=100)]
Price = Annotated[float, Meta(ge=0, le=1e6)]
Tokens = Annotated[int, Meta(ge=1, le=10_000_000)]
InFlight = Annotated[int, Meta(ge=1, le=65_536)]
Name = Annotated[str, Meta(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


# request-body fields the engine sets itself; extra_body overriding them would break sampling
ENGINE_BODY_KEYS = frozenset(
    {"model", "messages", "prompt", "n", "seed", "max_tokens", "temperature", "top_p", "stop"}
    | {"stream"}  # replies are read whole
)


class Spec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every config section: unknown keys are errors."""


class JobSpec(Spec):
    name: Name = "job"
    seed: int = 0
    worker: NonNegative = 0


class PromptSpec(Spec):
    """Chat prompt; ``{problem}`` in ``user`` is replaced by the question text."""

    system: str = ""
    user: str = "{problem}"

    def __post_init__(self) -> None:
        if "{problem}" not in self.user:
            raise ValueError("user: must contain {problem}")


class TeacherSpec(Spec):
    """A teacher backend and its limits. ``api_key_env`` names an environment variable."""

    model: Annotated[str, Meta(min_length=1)]
    backend: Literal["openai", "vllm"] = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    api: Literal["chat", "completions"] = "chat"
    api_key_env: str | None = None
    rpm: NonNegative = 0
    tpm: NonNegative = 0
    max_in_flight: InFlight = 256
    min_in_flight: InFlight = 1
    native_n: bool = True
    request_timeout_s: Seconds = 600.0
    connect_timeout_s: Seconds = 10.0
    max_attempts: Annotated[int, Meta(ge=1, le=1000)] = 8
    rate_limit_patience_s: Wait = 900.0
    backoff_base_s: Wait = 0.5
    backoff_max_s: Wait = 60.0
    extra_body: dict[str, object] = {}
    engine_args: dict[str, object] = {}  # backend "vllm": AsyncEngineArgs (dtype, max_model_len..)
    base_urls: list[str] = []  # data-parallel replicas, load balanced; replaces base_url
    server_metrics: Literal["none", "vllm"] = "none"  # steer in-flight by each server's /metrics
    # with server_metrics: sequences kept waiting on the server, as a share of its batch
    server_queue_share: Annotated[float, Meta(ge=0, le=4)] = 0.25
    health_interval_s: Annotated[float, Meta(ge=0.05, le=WEEK_S)] = 2.0  # replicas: /health
    price_input_per_m: Price = 0.0  # USD per million prompt tokens (live cost)
    price_output_per_m: Price = 0.0  # USD per million completion tokens

    def __post_init__(self) -> None:
        if self.min_in_flight > self.max_in_flight:
            raise ValueError(
                f"min_in_flight: {self.min_in_flight} is larger than max_in_flight "
                f"({self.max_in_flight})"
            )
        for key, url in [("base_url", self.base_url)] + [
            (f"base_urls[{i}]", url) for i, url in enumerate(self.base_urls)
        ]:
            if self.backend == "openai" and not _is_http_url(url):
                raise ValueError(f"{key}: {url!r} is not an http:// or https:// URL")
        if taken := sorted(ENGINE_BODY_KEYS & self.extra_body.keys()):
            raise ValueError(
                f"extra_body: {', '.join(taken)} set by the engine (from [sampling] and the "
                "prompt); remove them here"
            )


class SamplingSpec(Spec):
    """How answers are sampled. Sample ``i`` of a question gets seed ``question_seed + i``."""

    n: Annotated[int, Meta(ge=1, le=4096)] = 16
    temperature: Temperature = 1.0
    top_p: Annotated[float, Meta(gt=0, le=1)] = 1.0
    max_tokens: Tokens = 4096
    stop: list[str] = []
    on_truncation: Literal["keep", "retry", "drop"] = "keep"
    truncation_retry_factor: Annotated[float, Meta(gt=1, le=1000)] = 2.0
    truncation_max_tokens: Tokens = 32768
    stop_after_passed: NonNegative = 0  # early stop: sample in rounds of k until k answers passed


class MathVerifySpec(Spec):
    enabled: bool = True
    timeout_s: Seconds = 5.0
    workers: Annotated[int, Meta(ge=1, le=256)] | None = None


class CodeVerifySpec(Spec):
    """``time_s`` (CPU seconds; wall time is twice that plus one) and ``memory_mb`` (address
    space) bound each test of an answer; unset, the sandbox's defaults (2 s, 512 MiB). A Docker
    sandbox container has 2 GiB (sandbox.docker), so no test can be given more."""

    enabled: bool = True
    sandbox: Literal["auto", "docker", "local"] = "auto"
    pool_size: Annotated[int, Meta(ge=1, le=256)] | None = None
    time_s: Annotated[float, Meta(gt=0, le=600)] | None = None
    memory_mb: Annotated[int, Meta(ge=16, le=2048)] | None = None


class ScienceVerifySpec(Spec):
    mode: Literal["mcq", "none"] = "mcq"


class VerifySpec(Spec):
    math: MathVerifySpec = msgspec.field(default_factory=MathVerifySpec)
    code: CodeVerifySpec = msgspec.field(default_factory=CodeVerifySpec)
    science: ScienceVerifySpec = msgspec.field(default_factory=ScienceVerifySpec)
    concurrency: Annotated[int, Meta(ge=1, le=4096)] = 64


class OutputSpec(Spec):
    dir: Annotated[str, Meta(min_length=1)]
    shard_records: Count = 100_000
    shard_bytes: Annotated[int, Meta(ge=4096)] = 512 * 2**20
    flush_records: Count = 512
    flush_seconds: Annotated[float, Meta(ge=0.01, le=WEEK_S)] = 2.0
    zstd_level: Annotated[int, Meta(ge=-7, le=22)] = 3
    fsync: Literal["flush", "close", "never"] = "close"
    # a rerun asks again for samples whose last record is a retryable failure (connection,
    # timeout, server_error, rate_limited, bad_response, infra_error); --[no-]retry-failed
    retry_failed: bool = True


class LimitsSpec(Spec):
    """``max_failed_share``: a run exits 1 (failed) when more than this share of the samples it
    wrote are failures (the teacher's, or verification's ``infra_error``), and always when all
    are; ``1.0`` fails a run only when every sample failed."""

    max_questions: NonNegative = 0
    queue_size: Annotated[int, Meta(ge=1, le=1 << 20)] = 512
    max_failed_share: Fraction = 0.05


class FieldMap(Spec):
    """Which row field feeds each Question field; dotted paths reach into nested values ("a.b").

    ``problem`` must be present in every row. ``answer``, ``tests`` and ``choices`` are read when
    the row has them. ``id``, when set, must be present; unset, ids derive from the problem text.
    ``choices`` may list several fields (e.g. GPQA's "Correct Answer", "Incorrect Answer 1", ...).
    ``metadata`` fields are copied into Question.metadata when present.
    """

    problem: Annotated[str, Meta(min_length=1)] = "problem"
    answer: str | None = "answer"
    tests: str | None = "tests"
    choices: str | list[str] | None = "choices"
    id: Annotated[str, Meta(min_length=1)] | None = None
    metadata: list[str] = []


SourceFormat = Literal["auto", "jsonl", "json", "parquet"]


class SourceSpec(Spec):
    """One question source.

    ``path``: a file (.jsonl, .jsonl.zst, .json array, .json.zst, .parquet), a folder of such files
    or a glob. ``hf``: a Hugging Face dataset read with ``datasets.load_dataset`` (streaming) when
    that package is installed; if it is missing or the hub is unreachable, ``path`` (a local copy)
    is read instead when given. ``data_files``: files of the ``hf`` dataset (repo or folder) read
    as ``split`` by their format, without the dataset's loading script (engine.sources.hf); it
    replaces ``hf_config``. ``weight`` sets the source's share in mixing; ``limit`` caps the
    questions read. ``optional``: a missing path yields no questions (with a warning) instead of
    an error.

    ``on_bad_row``: a row that cannot be read or mapped (invalid JSON, a missing field, nesting
    deeper than the engine decodes, longer than ``max_row_bytes``) stops the job with an error
    naming file and line (``error``), or becomes a ``bad_row`` exclusion naming them (``skip``)
    and the job goes on. A syntax error inside a JSON array ends its file either way (where the
    next element starts is unknown).
    """

    name: Annotated[str, Meta(min_length=1)]
    domain: Domain
    path: str | None = None
    hf: str | None = None
    hf_config: str | None = None
    split: str = "train"
    data_files: list[Annotated[str, Meta(min_length=1)]] = []
    format: SourceFormat = "auto"
    fields: FieldMap = msgspec.field(default_factory=FieldMap)
    tags: list[str] = []
    weight: Annotated[float, Meta(gt=0, le=1e9)] = 1.0
    limit: NonNegative | None = None
    optional: bool = False
    on_bad_row: Literal["error", "skip"] = "error"
    max_row_bytes: Annotated[int, Meta(ge=1024, le=1 << 32)] = 64 << 20

    def __post_init__(self) -> None:
        if not self.path and not self.hf:
            raise ValueError(f"source {self.name!r}: set path or hf")
        if self.data_files and (not self.hf or self.hf_config):
            raise ValueError(f"source {self.name!r}: data_files needs hf and replaces hf_config")


class MixSpec(Spec):
    """``quotas``: the most questions taken per domain (a domain not listed is not capped)."""

    quotas: dict[Domain, NonNegative] = {}
    seed: int = 0


class DecontSpec(Spec):
    """``benchmarks``: the eval sets, read like sources (their ``name`` labels each removal).
    ``suite``: an eval suite file whose benchmarks are removed too (engine.eval: the sets a
    model is evaluated on are the ones kept out of its training data, named once).

    A question is contaminated when it shares one word ``ngram`` with a benchmark problem, or
    when its normalized text reaches ``fuzzy_threshold`` (rapidfuzz ratio, 0-100) against one;
    ``fuzzy_threshold = 0`` turns the fuzzy test off.
    """

    benchmarks: list[SourceSpec] = []
    suite: Annotated[str, Meta(min_length=1)] | None = None
    ngram: Annotated[int, Meta(ge=1, le=1000)] = 13
    fuzzy_threshold: Annotated[float, Meta(ge=0, le=100)] = 95.0


class DedupSpec(Spec):
    """``exact``: normalized-text hash. ``near``: MinHash LSH over word ``shingle``-grams with
    ``num_perm`` permutations; a pair is a duplicate at estimated Jaccard >= ``threshold``."""

    exact: bool = True
    near: bool = False
    threshold: Annotated[float, Meta(gt=0, le=1)] = 0.8
    num_perm: Annotated[int, Meta(ge=2, le=4096)] = 128
    shingle: Annotated[int, Meta(ge=1, le=64)] = 3
    seed: int = 1


ScoreMethod = Literal["difficulty", "length", "none"]


def _difficulty_rubric() -> PromptSpec:
    return PromptSpec(system=RUBRIC_SYSTEM, user=RUBRIC_USER)


class ScorerSpec(TeacherSpec):
    """A scorer backend (every ``[teacher]`` key, e.g. a cheap model) and how domains are scored.

    methods: per domain; a domain not listed is not scored (OT3: code by difficulty, math and
    science by response length). rubric: the difficulty prompt, ``{problem}`` in ``user``.
    answer_prompt: the prompt of the one answer the length scorer samples. rating_max_tokens and
    answer_max_tokens: reply budgets of the two. Each request's seed is derived from ``seed`` and
    the question id. The stages' concurrency is ``max_in_flight``.
    """

    methods: dict[Domain, ScoreMethod] = msgspec.field(default_factory=dict)
    rubric: PromptSpec = msgspec.field(default_factory=_difficulty_rubric)
    answer_prompt: PromptSpec = msgspec.field(default_factory=PromptSpec)
    rating_max_tokens: Tokens = 1024
    answer_max_tokens: Tokens = 16384
    temperature: Temperature = 0.0
    seed: int = 0

    def method(self, domain: str) -> ScoreMethod:
        return self.methods.get(domain, "none")  # type: ignore[call-overload]


class SelectSpec(Spec):
    """top: N per domain; a domain not listed is not capped (all its questions are kept).
    by: the score (its ``Score.stage``) that ranks each domain; a domain not listed ranks by
    the last score its questions carry. order: ``descending`` keeps the highest scores."""

    top: dict[Domain, NonNegative] = {}
    by: dict[Domain, str] = {}
    order: Literal["descending", "ascending"] = "descending"


AnswerPolicy = Literal["none", "passed", "majority"]
ExportFormat = Literal["llamafactory", "trl", "sharegpt", "messages"]
ExportFiles = Literal["parquet", "jsonl"]
OverCutoff = Literal["drop", "keep", "cut"]  # what export does with a trace over the cutoff


class ExportSpec(Spec):
    """answer_filter: one policy for all domains or one per domain (a domain not listed: none);
    ``passed`` exports passed samples only. keep_truncated: also export completions cut at
    max_tokens (an unfinished trace teaches stopping mid-thought). recipes: ``current`` exports
    only samples made by the manifest's recipe, ``all`` also those of earlier recipes (for a
    (question, sample index) made by both, the first in shard order). Failures never export.

    preset: the training preset (engine.train.presets) whose model's tokenizer measures the
    traces, whose cutoff_len is the default cutoff, and whose settings fill the training config
    written beside the data (for ``nodes`` x ``gpus_per_node``). tokenizer: measure with this
    tokenizer instead, and fail if it cannot be loaded (the preset's model falls back to an
    estimate). over_cutoff: see engine.export.lengths."""

    format: ExportFormat = "messages"
    files: ExportFiles = "parquet"
    answer_filter: AnswerPolicy | dict[Domain, AnswerPolicy] = "none"
    keep_truncated: bool = False
    recipes: Literal["current", "all"] = "current"
    preset: str = "ot3-7b"
    tokenizer: str | None = None
    cutoff_len: Annotated[int, Meta(gt=0)] | None = None
    over_cutoff: OverCutoff = "drop"
    nodes: Annotated[int, Meta(gt=0)] = 1
    gpus_per_node: Annotated[int, Meta(ge=0)] = 8
    name: str = "train"
    shard_records: Annotated[int, Meta(gt=0)] = 100_000
    skip_damaged: bool = False  # export the readable records of damaged shards, with a warning

    def policy(self, domain: str) -> AnswerPolicy:
        if isinstance(self.answer_filter, str):
            return self.answer_filter
        return self.answer_filter.get(domain, "none")  # type: ignore[call-overload]
