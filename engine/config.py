"""Recipe config: TOML decoded once, at the edge, into msgspec Structs.

Errors name the file and the key path, e.g. ``ot3.toml: teacher.rpm: expected int, got str``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Literal

import msgspec

from engine.sources import SourceSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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


class Recipe(Spec):
    teacher: TeacherSpec
    output: OutputSpec
    sources: list[SourceSpec]
    job: JobSpec = msgspec.field(default_factory=JobSpec)
    prompt: PromptSpec = msgspec.field(default_factory=PromptSpec)
    sampling: SamplingSpec = msgspec.field(default_factory=SamplingSpec)
    verify: VerifySpec = msgspec.field(default_factory=VerifySpec)
    limits: LimitsSpec = msgspec.field(default_factory=LimitsSpec)
    mock_teacher: MockTeacherSpec | None = None

    def sample_hash(self) -> str:
        """Hash of everything that changes the samples (model, prompt, sampling)."""
        relevant = {
            "model": self.teacher.model,
            "api": self.teacher.api,
            "extra_body": self.teacher.extra_body,
            "prompt": self.prompt,
            "sampling": msgspec.structs.replace(self.sampling, n=0),
            "seed": self.job.seed,
        }
        return hashlib.blake2b(msgspec.json.encode(relevant), digest_size=8).hexdigest()


class ConfigError(ValueError):
    """A recipe that cannot be used; the message names the file and the key path."""


_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<key>[^`]+)`")
_MISSING = re.compile(r"Object missing required field `(?P<key>[^`]+)`")


def _describe(error: msgspec.ValidationError) -> str:
    """Turn msgspec's message into ``key.path: what is wrong``."""
    message = str(error)
    match = _PATH.search(message)
    path = match["path"] if match else ""
    message = message[: match.start()] if match else message
    for pattern, what in ((_UNKNOWN, "unknown key"), (_MISSING, "missing required key")):
        if found := pattern.match(message):
            key = f"{path}.{found['key']}" if path else found["key"]
            return f"{key}: {what}"
    message = message[0].lower() + message[1:]
    return f"{path}: {message.replace('`', '')}" if path else message.replace("`", "")


def parse_recipe(text: str, name: str = "<recipe>") -> Recipe:
    """Decode and validate a TOML recipe (relative paths in it are relative to the cwd)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: {e}") from None
    try:
        recipe = msgspec.convert(data, Recipe)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{name}: {_describe(e)}") from None
    _check(recipe, name)
    return recipe


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and validate a recipe file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    return parse_recipe(text, path.name)


def _check(recipe: Recipe, name: str) -> None:
    """Semantic checks msgspec types cannot express."""
    problems = []
    if recipe.sampling.n < 1:
        problems.append("sampling.n: must be at least 1")
    if "{problem}" not in recipe.prompt.user:
        problems.append("prompt.user: must contain {problem}")
    if recipe.teacher.min_in_flight > recipe.teacher.max_in_flight:
        problems.append("teacher.min_in_flight: larger than teacher.max_in_flight")
    if not recipe.sources:
        problems.append("sources: at least one source is required")
    key_env = recipe.teacher.api_key_env
    if key_env and key_env not in os.environ:
        problems.append(f"teacher.api_key_env: environment variable {key_env} is not set")
    if problems:
        raise ConfigError("\n".join(f"{name}: {p}" for p in problems))
