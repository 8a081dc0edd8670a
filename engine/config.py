"""Recipe config: TOML decoded once, at the edge, into msgspec Structs.

Errors name the file and the key path, e.g. ``ot3.toml: teacher.rpm: expected int, got str``.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import msgspec

from engine.decont import DecontSpec
from engine.dedup import DedupSpec
from engine.mixing import MixSpec
from engine.scoring.spec import ScorerSpec
from engine.select import SelectSpec
from engine.sources import SourceSpec
from engine.specs import (
    JobSpec,
    LimitsSpec,
    MockTeacherSpec,
    OutputSpec,
    PromptSpec,
    SamplingSpec,
    Spec,
    TeacherSpec,
    VerifySpec,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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
    mix: MixSpec | None = None
    decont: DecontSpec | None = None
    dedup: DedupSpec | None = None
    scorer: ScorerSpec | None = None
    select: SelectSpec | None = None

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
        return _digest(relevant)

    def curation_hash(self) -> str:
        """Hash of everything that decides which questions get sampled."""
        scorer = self.scorer
        relevant = {
            "sources": self.sources,
            "mix": self.mix,
            "decont": self.decont,
            "dedup": self.dedup,
            "select": self.select,
            "max_questions": self.limits.max_questions,
            "scorer": scorer
            and [
                scorer.model,
                scorer.methods,
                scorer.rubric,
                scorer.answer_prompt,
                scorer.rating_max_tokens,
                scorer.answer_max_tokens,
                scorer.temperature,
                scorer.seed,
            ],
        }
        return _digest(relevant)


def missing_keys(recipe: Recipe) -> list[str]:
    """``section.api_key_env: ...`` for each backend whose key variable is not set."""
    sections = {"teacher": recipe.teacher, "scorer": recipe.scorer}
    return [
        f"{name}.api_key_env: environment variable {spec.api_key_env} is not set"
        for name, spec in sections.items()
        if spec is not None and spec.api_key_env and spec.api_key_env not in os.environ
    ]


def _digest(value: object) -> str:
    return hashlib.blake2b(msgspec.json.encode(value), digest_size=8).hexdigest()


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
    return recipe_from_dict(data, name)


def recipe_from_dict(data: dict[str, object], name: str = "<recipe>") -> Recipe:
    """Validate an already-parsed recipe (e.g. a TOML file with overrides applied)."""
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
    if problems:
        raise ConfigError("\n".join(f"{name}: {p}" for p in problems))
