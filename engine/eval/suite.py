"""Eval suites: one TOML file decoded once, at the edge, into typed Structs (like recipes).

A suite names the model under test (``[model]``, any engine backend; or ``[serve]`` to start
vLLM's OpenAI server on a checkpoint; or ``[mock_teacher]`` offline), default sampling, and its
``[[benchmarks]]``: each with its data (a Hugging Face id or a local file, in a named layout),
verifier, prompt, repeats ``n``, sampling overrides and metrics. Errors name the file and the
key path, e.g. ``demo.toml: benchmarks[1].n: must be at least 1``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from engine.config import decode
from engine.errors import ConfigError
from engine.overrides import apply as apply_overrides
from engine.specs import (
    FieldMap,
    OutputSpec,
    PromptSpec,
    SourceFormat,
    SourceSpec,
    Spec,
    TeacherSpec,
    VerifySpec,
)
from engine.testing.options import MockOptions
from engine.tomlfile import parse_toml

Verifier = Literal["math", "mcq", "code"]
Metric = Literal["avg@n", "pass@k", "maj@n"]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Temperature = Annotated[float, msgspec.Meta(ge=0.0)]
FileName = Annotated[str, msgspec.Meta(min_length=1)]

#: the engine domain each verifier's questions run under (mcq: engine.generate shuffles options)
DOMAINS: dict[str, Literal["math", "science", "code"]] = {
    "math": "math",
    "mcq": "science",
    "code": "code",
}
DEFAULT_METRICS: dict[str, list[Metric]] = {
    "math": ["avg@n", "pass@k", "maj@n"],
    "mcq": ["avg@n", "pass@k", "maj@n"],
    "code": ["avg@n", "pass@k"],
}
_NEEDED_FIELD = {"math": "answer", "mcq": "choices", "code": "tests"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a benchmark name is a directory name


class DataBase(Spec, tag_field="layout"):
    """Where a benchmark's rows are: ``hf`` (a Hugging Face dataset, streamed when the
    ``datasets`` package and the hub are there; ``data_files`` reads those files of it as the
    split, without its loading script) and/or ``path`` (a local JSON, JSONL or Parquet file,
    folder or glob; read instead of ``hf`` when the hub cannot be reached)."""

    hf: str | None = None
    hf_config: str | None = None
    split: str = "test"
    data_files: list[FileName] = msgspec.field(default_factory=list)
    path: str | None = None
    format: SourceFormat = "auto"
    limit: PositiveInt | None = None


class FieldsData(DataBase, tag="fields"):
    """Any layout, by field mapping (the recipe sources' FieldMap); ``difficulty`` names the row
    field that per-difficulty accuracy groups by (MATH-500: ``level``)."""

    fields: FieldMap = msgspec.field(default_factory=FieldMap)
    difficulty: str | None = None


class GpqaData(DataBase, tag="gpqa"):
    """Idavidrein/gpqa: "Question", "Correct Answer", "Incorrect Answer 1".."3"."""

    split: str = "train"


class LiveCodeBenchData(DataBase, tag="livecodebench"):
    """livecodebench/code_generation_lite: question_content, starter_code, difficulty,
    public_test_cases (JSON), private_test_cases (JSON, or base64(zlib(pickle(JSON)))),
    metadata (JSON with func_name). ``stdin_prefix``/``call_prefix`` start the problem text of
    stdin and call-based problems; ``starter_code`` appends the starter code block.
    ``solution``: the row field of a reference program, kept as ``metadata["solution"]`` when a
    row has one (LiveCodeBench publishes none; the mock teacher's answer key uses them)."""

    stdin_prefix: str = ""
    call_prefix: str = ""
    starter_code: bool = True
    solution: str | None = "solution"


DataSpec = FieldsData | GpqaData | LiveCodeBenchData
_LAYOUT_VERIFIER = {GpqaData: "mcq", LiveCodeBenchData: "code"}


class SamplingDefaults(Spec):
    """Sampling of every benchmark unless it overrides a field. Sample ``i`` of a question gets
    seed ``question_seed(seed, question id) + i`` (engine.generate.prompts)."""

    temperature: Temperature = 1.0
    top_p: Probability = 1.0
    max_tokens: PositiveInt = 4096
    seed: int = 0


class SamplingOverride(Spec):
    temperature: Temperature | None = None
    top_p: Probability | None = None
    max_tokens: PositiveInt | None = None
    seed: int | None = None


class BenchmarkSpec(Spec):
    name: str
    verifier: Verifier
    data: DataSpec
    n: PositiveInt = 1
    prompt: PromptSpec = msgspec.field(default_factory=PromptSpec)
    sampling: SamplingOverride = msgspec.field(default_factory=SamplingOverride)
    metrics: list[Metric] | None = None  # None: the verifier's defaults (DEFAULT_METRICS)

    @property
    def domain(self) -> Literal["math", "science", "code"]:
        return DOMAINS[self.verifier]

    @property
    def metric_names(self) -> list[Metric]:
        return self.metrics if self.metrics is not None else DEFAULT_METRICS[self.verifier]


VLLM_SERVER = [
    "{python}", "-m", "vllm.entrypoints.openai.api_server",
    "--model", "{checkpoint}", "--host", "127.0.0.1", "--port", "{port}",
]  # fmt: skip


class ServeSpec(Spec):
    """Start an OpenAI-compatible server on ``checkpoint`` for the eval and stop it after.

    ``command``: the server's argv; ``{python}`` (this interpreter), ``{checkpoint}`` and
    ``{port}`` are filled in. vLLM often lives in its own venv: then give that venv's python as
    the first word. ``args`` follow the command. The model is served under its checkpoint path
    (vLLM's default name) and reached over HTTP with the rest of ``[model]``'s settings.
    """

    checkpoint: str | None = None
    command: list[str] = msgspec.field(default_factory=lambda: list(VLLM_SERVER))
    args: list[str] = msgspec.field(default_factory=list)
    health_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 900.0
    stop_grace_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0


class ModelSpec(TeacherSpec):
    """The model under test: an engine teacher backend. ``model`` may come from the command
    line (``--model``) or from ``--serve CHECKPOINT`` (served under the checkpoint's path)."""

    model: str = ""


class Suite(Spec):
    name: str
    benchmarks: list[BenchmarkSpec]
    output: OutputSpec
    model: ModelSpec = msgspec.field(default_factory=ModelSpec)
    serve: ServeSpec | None = None
    sampling: SamplingDefaults = msgspec.field(default_factory=SamplingDefaults)
    verify: VerifySpec = msgspec.field(default_factory=VerifySpec)
    mock_teacher: MockOptions | None = None

    def sampling_of(self, benchmark: BenchmarkSpec) -> SamplingDefaults:
        """The suite's sampling with the benchmark's overrides applied."""
        changes = {
            name: value
            for name, value in msgspec.structs.asdict(benchmark.sampling).items()
            if value is not None
        }
        return msgspec.structs.replace(self.sampling, **changes)

    def benchmark(self, name: str) -> BenchmarkSpec:
        return next(b for b in self.benchmarks if b.name == name)


def parse_suite(
    text: str, name: str = "<suite>", overrides: dict | None = None, sets: Sequence[str] = ()
) -> Suite:
    """Decode and validate a suite; ``sets`` (``--set key=VALUE``, engine.overrides) and then
    ``overrides`` (nested tables from other options) replace the TOML's keys before validation,
    so their errors name key paths too."""
    data = apply_overrides(parse_toml(text, name), list(sets))
    return suite_from_dict(_merged(data, overrides or {}), name)


def suite_from_dict(data: dict, name: str = "<suite>") -> Suite:
    for benchmark in data.get("benchmarks", []) if isinstance(data, dict) else []:
        if isinstance(benchmark, dict) and isinstance(benchmark.get("data"), dict):
            benchmark["data"].setdefault("layout", "fields")
    suite = decode(data, Suite, name)
    _check(suite, name)
    return suite


def load_suite(
    path: str | os.PathLike[str], overrides: dict | None = None, sets: Sequence[str] = ()
) -> Suite:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    return parse_suite(text, path.name, overrides, sets)


def _merged(data: dict, overrides: dict) -> dict:
    merged = dict(data)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check(suite: Suite, name: str) -> None:
    """Semantic checks msgspec types cannot express."""
    problems = []
    if not suite.benchmarks:
        problems.append("benchmarks: at least one benchmark is required")
    seen: set[str] = set()
    for i, benchmark in enumerate(suite.benchmarks):
        where = f"benchmarks[{i}]"
        data = benchmark.data
        if not _NAME.match(benchmark.name):
            problems.append(f"{where}.name: {benchmark.name!r} must be a plain file name")
        elif benchmark.name in seen:
            problems.append(f"{where}.name: {benchmark.name!r} is used twice")
        seen.add(benchmark.name)
        if not data.hf and not data.path:
            problems.append(f"{where}.data: set hf or path")
        if data.data_files and (not data.hf or data.hf_config):
            problems.append(f"{where}.data.data_files: needs hf and replaces hf_config")
        if "{problem}" not in benchmark.prompt.user:
            problems.append(f"{where}.prompt.user: must contain {{problem}}")
        if benchmark.verifier == "code" and "maj@n" in benchmark.metric_names:
            problems.append(f"{where}.metrics: maj@n needs a math or mcq verifier")
        fits = _LAYOUT_VERIFIER.get(type(data))
        if fits is not None and fits != benchmark.verifier:
            layout = type(data).__struct_config__.tag
            problems.append(f"{where}.data.layout: {layout!r} data needs verifier {fits!r}")
        if isinstance(data, FieldsData):
            key = _NEEDED_FIELD[benchmark.verifier]
            if not getattr(data.fields, key):
                problems.append(
                    f"{where}.data.fields.{key}: required by verifier {benchmark.verifier!r}"
                )
    if suite.serve is not None and suite.serve.checkpoint and suite.model.backend == "vllm":
        problems.append("serve: the served model is reached over HTTP; model.backend is 'vllm'")
    if problems:
        raise ConfigError("\n".join(f"{name}: {p}" for p in problems))


def benchmark_sources(suite: Suite | str | os.PathLike[str]) -> list[SourceSpec]:
    """The suite's benchmarks as question sources (problem text and answer), for a recipe's
    decontamination: ``DecontSpec(benchmarks=benchmark_sources("configs/eval/ot3.toml"))``
    removes from training data exactly the problems the model is evaluated on."""
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    return [source_spec(b, problem_only=True) for b in suite.benchmarks]


def source_spec(benchmark: BenchmarkSpec, *, problem_only: bool = False) -> SourceSpec:
    """A SourceSpec that reads the benchmark's rows with the engine's readers (hf or path).

    The layout's row fields are named here; ``problem_only`` leaves out answers, tests and
    choices (what decontamination needs). Rows of the gpqa and livecodebench layouts are turned
    into Questions by engine.eval.layouts; this spec's mapping serves the ``fields`` layout and
    decontamination."""
    data = benchmark.data
    if isinstance(data, GpqaData):
        fields = FieldMap(problem="Question", answer="Correct Answer", tests=None, choices=None)
    elif isinstance(data, LiveCodeBenchData):
        fields = FieldMap(problem="question_content", answer=None, tests=None, choices=None)
    else:
        fields = data.fields
    if problem_only:
        fields = msgspec.structs.replace(fields, tests=None, choices=None, metadata=[])
    return SourceSpec(
        name=benchmark.name,
        domain=benchmark.domain,
        path=data.path,
        hf=data.hf,
        hf_config=data.hf_config,
        split=data.split,
        data_files=data.data_files,
        format=data.format,
        fields=fields,
        limit=data.limit,
    )
