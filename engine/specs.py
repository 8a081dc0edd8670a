"""Recipe sections as msgspec Structs: unknown keys are errors, defaults fill the rest."""

from __future__ import annotations

from typing import Literal

import msgspec


class Spec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every config section: unknown keys are errors."""


class JobSpec(Spec):
    name: str = "job"
    seed: int = 0
    worker: int = 0


class PromptSpec(Spec):
    """Chat prompt; ``{problem}`` in ``user`` is replaced by the question text."""

    system: str = ""
    user: str = "{problem}"


class TeacherSpec(Spec):
    """A teacher backend and its limits. ``api_key_env`` names an environment variable."""

    model: str
    backend: Literal["openai", "vllm"] = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    api: Literal["chat", "completions"] = "chat"
    api_key_env: str | None = None
    rpm: int = 0
    tpm: int = 0
    max_in_flight: int = 256
    min_in_flight: int = 1
    native_n: bool = True
    request_timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    max_attempts: int = 8
    rate_limit_patience_s: float = 900.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 60.0
    extra_body: dict[str, object] = {}
    engine_args: dict[str, object] = {}  # backend "vllm": AsyncEngineArgs (dtype, max_model_len..)
    base_urls: list[str] = []  # data-parallel replicas, load balanced; replaces base_url
    server_metrics: Literal["none", "vllm"] = "none"  # steer in-flight by each server's /metrics
    health_interval_s: float = 2.0  # replicas: /health probe period


class SamplingSpec(Spec):
    """How answers are sampled. Sample ``i`` of a question gets seed ``question_seed + i``."""

    n: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 4096
    stop: list[str] = []
    seed_policy: Literal["per_sample", "none"] = "per_sample"
    on_truncation: Literal["keep", "retry", "drop"] = "keep"
    truncation_retry_factor: float = 2.0
    truncation_max_tokens: int = 32768
    stop_after_passed: int = 0  # early stop: sample in rounds of k until k answers passed


class MathVerifySpec(Spec):
    enabled: bool = True
    timeout_s: float = 5.0
    workers: int | None = None


class CodeVerifySpec(Spec):
    enabled: bool = True
    sandbox: Literal["auto", "docker", "local"] = "auto"
    pool_size: int | None = None


class ScienceVerifySpec(Spec):
    mode: Literal["mcq", "none"] = "mcq"


class VerifySpec(Spec):
    math: MathVerifySpec = msgspec.field(default_factory=MathVerifySpec)
    code: CodeVerifySpec = msgspec.field(default_factory=CodeVerifySpec)
    science: ScienceVerifySpec = msgspec.field(default_factory=ScienceVerifySpec)
    concurrency: int = 64


class OutputSpec(Spec):
    dir: str
    shard_records: int = 100_000
    shard_bytes: int = 512 * 2**20
    flush_records: int = 512
    flush_seconds: float = 2.0
    zstd_level: int = 3
    fsync: Literal["flush", "close", "never"] = "close"


class LimitsSpec(Spec):
    max_questions: int = 0
    queue_size: int = 512


class MockTeacherSpec(Spec):
    """Start the project's mock teacher for this job (offline demos and tests)."""

    answer_key: bool = True
    correct_rate: float = 0.7
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    tokens_per_s: float = 0.0
