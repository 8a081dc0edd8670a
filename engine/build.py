"""The builder: a recipe turned into its question stream, its backends and the stages of its two
pipelines (curation, then sampling). It only wires; the job runs what it builds."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import msgspec

from engine.backends.base import Backend
from engine.config import Recipe
from engine.decont import Decontaminator
from engine.dedup import Dedup
from engine.distributed.partition import Partition
from engine.errors import ConfigError, TeacherUnavailable
from engine.funnel import Funnel
from engine.metrics import Metrics
from engine.mixing import Mixer
from engine.pipeline import Stage
from engine.records import Question
from engine.sources import Source, SourceError
from engine.sources.intake import Intake, Rejected
from engine.specs import DecontSpec, SourceSpec, TeacherSpec
from engine.stages.exclusions import Exclusions
from engine.stages.filter import FilterStage
from engine.stages.generate import GenerateStage
from engine.stages.plan import PlanStage, SkipScored
from engine.stages.score import scoring_stages
from engine.stages.verify import Verifiers, VerifyStage
from engine.stages.write import WriteSamples, WriteScored
from engine.storage.output import DoneSet
from engine.storage.sink import RecordSink, SampleSink


class QuestionStream:
    """The recipe's questions, streamed: mixed by quota and weight when ``[mix]`` is set, else
    source after source; capped by limits.max_questions. Counts what it reads for the funnel.

    Each id is one question per job: a later row with a taken id, and a bad row its source
    skips, come through as ``Rejected`` (for the filter stage to write as exclusions), just
    before the next question; they count toward no quota or limit.

    A ``partition`` reads the whole stream (so ids, quotas and the cap mean what they mean in
    one process) and yields only its share of questions and rejected rows."""

    def __init__(self, recipe: Recipe, partition: Partition | None = None):
        self.recipe = recipe
        self.partition = partition
        self.funnel = Funnel()

    def __iter__(self) -> Iterator[Question | Rejected]:
        recipe, intake, partition = self.recipe, Intake(), self.partition
        sources = [Source(spec, intake) for spec in recipe.sources]
        if recipe.mix is not None:
            stream: Iterator[Question] = iter(Mixer(recipe.mix, sources))
        else:
            stream = itertools.chain.from_iterable(sources)
        for item in self._all(stream, intake):
            question = item if isinstance(item, Question) else item.question
            if partition is not None and not partition.owns(question):
                continue
            if item is question:
                self.funnel.count("read", question.domain, question.source)
            yield item

    def _all(self, stream: Iterator[Question], intake: Intake) -> Iterator[Question | Rejected]:
        for question in itertools.islice(stream, self.recipe.limits.max_questions or None):
            yield from intake.drain()
            yield question
        yield from intake.drain()

    def questions(self) -> Iterator[Question]:
        """Only the questions."""
        return (item for item in self if isinstance(item, Question))

    def count(self) -> int:
        """How many questions iterating yields, from the local files' row counts: each domain
        gives its sources' total up to its mixing quota (a partition: its expected share)."""
        recipe = self.recipe
        per_domain: Counter[str] = Counter()
        for spec in recipe.sources:
            per_domain[spec.domain] += Source(spec).count()
        quotas = recipe.mix.quotas if recipe.mix is not None else {}
        total = sum(min(count, quotas.get(domain, count)) for domain, count in per_domain.items())
        total = min(total, recipe.limits.max_questions or total)
        return total if self.partition is None else -(-total // self.partition.count)


def check(recipe: Recipe, name: str) -> None:
    """What ``check`` and ``run`` refuse before anything starts (``name``: the recipe file):
    a local source or benchmark without data files of a known format, or whose first row does
    not fit its field mapping (under ``on_bad_row = "error"``), a backend that cannot be built
    (e.g. vLLM not installed). Hub sources are resolved when they are read."""
    benchmarks = decont_benchmarks(recipe.decont) if recipe.decont else []
    for section, specs in (("sources", recipe.sources), ("decont.benchmarks", benchmarks)):
        for i, spec in enumerate(specs):
            if spec.hf:
                continue
            source = Source(spec)
            try:
                source.file_readers()
            except SourceError as error:
                raise ConfigError(f"{name}: {section}[{i}].path: {error}") from None
            try:
                if spec.on_bad_row == "error":
                    next(iter(source), None)  # the first row reads and maps, as run would
            except SourceError as error:
                raise ConfigError(f"{name}: {section}[{i}]: {error}") from None
    for spec in (recipe.teacher, recipe.scorer):
        if spec is not None:
            make_backend(spec, Metrics())


def make_backend(spec: TeacherSpec, metrics: Metrics, base_url: str | None = None) -> Backend:
    """The backend a teacher (or scorer) section asks for; ``base_url`` overrides the section's
    (the job's own mock teacher)."""
    if base_url is not None:
        spec = msgspec.structs.replace(spec, base_url=base_url, base_urls=[])
    if spec.backend == "vllm":
        from engine.backends.vllm_inproc import VLLMBackend

        return VLLMBackend(spec, metrics)
    if spec.base_urls or spec.server_metrics != "none":
        from engine.backends.replicas import ReplicaSet

        return ReplicaSet(spec, metrics)
    from engine.backends.openai_http import OpenAIBackend

    return OpenAIBackend(spec, metrics)


async def preflight(backends: dict[str, Backend | None]) -> None:
    """Stop the job before it writes anything when a backend (by its section name) would
    refuse every request: not reachable, the key refused, the model unknown."""
    for section, backend in backends.items():
        if backend is not None and (problem := await backend.preflight()):
            raise TeacherUnavailable(f"{section}: {problem}")


@contextlib.asynccontextmanager
async def mock_teacher(recipe: Recipe) -> AsyncIterator[str | None]:
    """The URL of the mock teacher the recipe's ``[mock_teacher]`` asks for, started for the
    job's lifetime (a subprocess answering from the questions' gold answers); else None."""
    if recipe.mock_teacher is None:
        yield None
        return
    from engine.testing.process import mock_teacher_process

    async with mock_teacher_process(recipe.mock_teacher, QuestionStream(recipe).questions()) as url:
        yield url


def decont_benchmarks(spec: DecontSpec) -> list[SourceSpec]:
    """``spec``'s benchmarks and its eval suite's (a suite that cannot be read: ConfigError)."""
    if spec.suite is None:
        return spec.benchmarks
    from engine.eval import benchmark_sources

    return [*spec.benchmarks, *benchmark_sources(spec.suite)]


def decontaminator(spec: DecontSpec) -> Decontaminator:
    """The decontamination index of ``spec``'s benchmarks and its eval suite's."""
    return Decontaminator(msgspec.structs.replace(spec, benchmarks=decont_benchmarks(spec)))


def filter_stages(recipe: Recipe, exclusions: Exclusions) -> list[Stage]:
    """The stage that writes rejected rows as exclusions, with decontamination and dedup when
    the recipe asks for either."""
    decont = decontaminator(recipe.decont) if recipe.decont else None
    dedup = Dedup(recipe.dedup) if recipe.dedup else None
    return [FilterStage(decont, dedup, exclusions)]


def curation_stages(
    recipe: Recipe,
    exclusions: Exclusions,
    scorer: Backend | None,
    handled: set[str],
    scored: RecordSink,
) -> list[Stage]:
    """filter -> skip what a previous run scored -> score -> write the scored questions."""
    stages: list[Stage] = [*filter_stages(recipe, exclusions), SkipScored(handled)]
    if recipe.scorer is not None and scorer is not None:
        stages += scoring_stages(recipe.scorer, scorer, exclusions)
    stages.append(WriteScored(scored))
    return stages


def sampling_stages(
    recipe: Recipe,
    recipe_hash: str,
    done: DoneSet,
    samples: SampleSink,
    teacher: Backend,
    verifiers: Verifiers,
    metrics: Metrics,
) -> list[Stage]:
    """plan what is missing -> generate -> verify -> write."""
    early_stop = verifiers if recipe.sampling.stop_after_passed else None
    return [
        PlanStage(recipe, done, samples, metrics),
        GenerateStage(recipe, teacher, recipe_hash, metrics, early_stop),
        VerifyStage(verifiers),
        WriteSamples(samples, metrics),
    ]
