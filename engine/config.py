"""Recipe config: TOML decoded once, at the edge, into msgspec Structs.

Errors name the file and the key path, e.g. ``ot3.toml: teacher.rpm: expected int, got str``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

from engine.errors import ConfigError
from engine.overrides import apply as apply_overrides
from engine.specs import (
    DecontSpec,
    DedupSpec,
    ExportSpec,
    JobSpec,
    LimitsSpec,
    MixSpec,
    OutputSpec,
    PromptSpec,
    SamplingSpec,
    ScorerSpec,
    SelectSpec,
    SourceSpec,
    Spec,
    TeacherSpec,
    VerifySpec,
)
from engine.testing.options import MockOptions
from engine.tomlfile import parse_toml


class Recipe(Spec):
    """A whole recipe file: where questions come from, how they are curated, sampled, verified
    and written."""

    teacher: TeacherSpec
    output: OutputSpec
    sources: Annotated[list[SourceSpec], msgspec.Meta(min_length=1)]
    job: JobSpec = msgspec.field(default_factory=JobSpec)
    prompt: PromptSpec = msgspec.field(default_factory=PromptSpec)
    sampling: SamplingSpec = msgspec.field(default_factory=SamplingSpec)
    verify: VerifySpec = msgspec.field(default_factory=VerifySpec)
    limits: LimitsSpec = msgspec.field(default_factory=LimitsSpec)
    mock_teacher: MockOptions | None = None
    mix: MixSpec | None = None
    decont: DecontSpec | None = None
    dedup: DedupSpec | None = None
    scorer: ScorerSpec | None = None
    select: SelectSpec | None = None
    export: ExportSpec | None = None  # defaults for `engine export --config RECIPE`

    def __post_init__(self) -> None:
        first: dict[str, int] = {}
        for i, source in enumerate(self.sources):  # names label ids, the funnel and mixing
            if (j := first.setdefault(source.name, i)) != i:
                raise ValueError(f"sources[{i}].name: {source.name!r} is the name of sources[{j}]")

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


_PATH = re.compile(r" - at (?P<key>`key` in )?`\$\.?(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<key>[^`]*)`")
_MISSING = re.compile(r"Object missing required field `(?P<key>[^`]+)`")
_BOUND = re.compile(r"Expected `\w+` (?P<op>>=|<=|>|<) (?P<bound>\S+)$")
_LENGTH = re.compile(r"Expected `(?P<kind>str|array|object)` of length >= 1$")
_BOUND_WORDS = {">=": "at least", "<=": "at most", ">": "greater than", "<": "less than"}
_FIELD_FIRST = re.compile(r"^(?P<field>\w+): ")
T = TypeVar("T")


def _describe(error: msgspec.ValidationError, kind: type) -> str:
    """Turn msgspec's message into ``key.path: what is wrong`` in words a user reads: bounds
    as "must be at least 1", enums with the valid values."""
    message = str(error)
    match = _PATH.search(message)
    path = match["path"] if match else ""
    message = message[: match.start()] if match else message
    if match and match["key"]:  # a mapping's key, not its value, is wrong
        path += "[key]"
    for pattern, what in ((_UNKNOWN, "unknown key"), (_MISSING, "missing required key")):
        if found := pattern.match(message):
            name = found["key"] or '""'  # an empty key, named so it can be found
            key = f"{path}.{name}" if path else name
            return f"{key}: {what}"
    if found := _BOUND.match(message):
        message = f"must be {_BOUND_WORDS[found['op']]} {found['bound']}"
    elif found := _LENGTH.match(message):
        message = "must not be empty"
    elif message.startswith("Invalid enum value") and (choices := _choices(kind, path)):
        message = f"{message}; valid: {', '.join(map(repr, choices))}"
    elif (found := _FIELD_FIRST.match(message)) and path:  # a check of one field of a section
        path, message = f"{path}.{found['field']}", message[found.end() :]
    message = message[0].lower() + message[1:]
    return f"{path}: {message.replace('`', '')}" if path else message.replace("`", "")


def _choices(kind: type, path: str) -> list[str]:
    """The values a Literal field at ``path`` (``a.b[2].c``) of ``kind`` admits."""
    info: object = msgspec.inspect.type_info(kind)
    for part in re.findall(r"\w+|\[\d+\]|\[key\]", path):
        info = _unwrap(info)
        if part == "[key]":
            info = getattr(info, "key_type", None)
        elif part.startswith("["):
            info = getattr(info, "item_type", None)
        elif isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.encode_name == part), None)
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        else:
            return []
    info = _unwrap(info)
    return list(info.values) if isinstance(info, msgspec.inspect.LiteralType) else []


def _unwrap(info: object) -> object:
    """The one non-None member of an optional type, constraints stripped."""
    if isinstance(info, msgspec.inspect.UnionType):
        members = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        info = members[0] if len(members) == 1 else info
    return info


def decode(data: object, kind: type[T], name: str) -> T:
    """Validate already-parsed config data as ``kind``; a ConfigError names ``name`` and the key."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as e:
        raise ConfigError(f"{name}: {_describe(e, kind)}") from None
    except RecursionError:
        raise ConfigError(f"{name}: values nested too deeply") from None


def parse_recipe(text: str, name: str = "<recipe>", overrides: Sequence[str] = ()) -> Recipe:
    """Decode and validate a TOML recipe (relative paths in it are relative to the cwd), with
    ``section.key=VALUE`` overrides applied first (engine.overrides)."""
    data = parse_toml(text, name)
    return recipe_from_dict(apply_overrides(data, list(overrides)), name)


def recipe_from_dict(data: dict[str, object], name: str = "<recipe>") -> Recipe:
    """Validate an already-parsed recipe (e.g. a TOML file with overrides applied)."""
    return decode(data, Recipe, name)


def load_recipe(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read and validate a recipe file, with overrides applied."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    return parse_recipe(text, path.name, overrides)
