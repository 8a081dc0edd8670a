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
from engine.funnel import Funnel
from engine.metrics import Metrics
from engine.mixing import Mixer
from engine.pipeline import Stage
from engine.records import Question
from engine.sources import Source
from engine.specs import DecontSpec, TeacherSpec
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
    source after source; capped by limits.max_questions. Counts what it reads for the funnel."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self.funnel = Funnel()

    def __iter__(self) -> Iterator[Question]:
        recipe = self.recipe
        if recipe.mix is not None:
            stream: Iterator[Question] = iter(Mixer.from_specs(recipe.mix, recipe.sources))
        else:
            stream = itertools.chain.from_iterable(Source(spec) for spec in recipe.sources)
        for question in itertools.islice(stream, recipe.limits.max_questions or None):
            self.funnel.count("read", question.domain, question.source)
            yield question

    def count(self) -> int:
        """How many questions iterating yields, from the local files' row counts: each domain
        gives its sources' total up to its mixing quota."""
        recipe = self.recipe
        per_domain: Counter[str] = Counter()
        for spec in recipe.sources:
            per_domain[spec.domain] += Source(spec).count()
        quotas = recipe.mix.quotas if recipe.mix is not None else {}
        total = sum(min(count, quotas.get(domain, count)) for domain, count in per_domain.items())
        return min(total, recipe.limits.max_questions or total)


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


@contextlib.asynccontextmanager
async def mock_teacher(recipe: Recipe) -> AsyncIterator[str | None]:
    """The URL of the mock teacher the recipe's ``[mock_teacher]`` asks for, started for the
    job's lifetime (a subprocess answering from the questions' gold answers); else None."""
    if recipe.mock_teacher is None:
        yield None
        return
    from engine.testing.process import mock_teacher_process

    async with mock_teacher_process(recipe.mock_teacher, QuestionStream(recipe)) as url:
        yield url


def decontaminator(spec: DecontSpec) -> Decontaminator:
    """The decontamination index of ``spec``'s benchmarks and its eval suite's."""
    if spec.suite is not None:
        from engine.eval import benchmark_sources

        benchmarks = [*spec.benchmarks, *benchmark_sources(spec.suite)]
        spec = msgspec.structs.replace(spec, benchmarks=benchmarks)
    return Decontaminator(spec)


def filter_stages(recipe: Recipe, exclusions: Exclusions) -> list[Stage]:
    """Decontamination and dedup, when the recipe asks for either."""
    if recipe.decont is None and recipe.dedup is None:
        return []
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
