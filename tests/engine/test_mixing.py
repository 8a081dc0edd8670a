"""Mixing: weighted interleave of real file sources, per-domain quotas, determinism by seed."""

from __future__ import annotations

import json
from collections import Counter
from itertools import islice
from pathlib import Path

import msgspec
import pytest

from engine.build import QuestionStream
from engine.config import Recipe
from engine.mixing import Mixer
from engine.sources import Source
from engine.specs import LimitsSpec, MixSpec, OutputSpec, SourceSpec, TeacherSpec


def write_source(folder: Path, name: str, count: int) -> Path:
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"problem": f"{name} {i}"}) + "\n" for i in range(count)))
    return path


class CountingSource:
    """A real Source that counts how many questions the mixer pulled from it."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec, self.pulled = spec, 0

    def __iter__(self):
        for question in Source(self.spec):
            self.pulled += 1
            yield question


@pytest.fixture
def specs(tmp_path) -> list[SourceSpec]:
    return [
        SourceSpec(name="a", domain="math", path=str(write_source(tmp_path, "a", 1000)), weight=3),
        SourceSpec(name="b", domain="math", path=str(write_source(tmp_path, "b", 1000))),
        SourceSpec(name="c", domain="code", path=str(write_source(tmp_path, "c", 50))),
    ]


def test_quota_split_follows_weights_and_other_domains_are_uncapped(specs):
    mixer = Mixer.from_specs(MixSpec(quotas={"math": 400}, seed=7), specs)
    questions = list(mixer)
    by_source = Counter(q.source for q in questions)
    assert by_source["a"] + by_source["b"] == 400
    assert 260 <= by_source["a"] <= 340  # weight 3 of 4: 300 expected
    assert by_source["c"] == 50  # code has no quota: read whole
    assert mixer.taken == by_source
    assert len({q.id for q in questions}) == len(questions)


def test_same_seed_same_order_other_seed_other_order(specs):
    def mix(seed: int) -> list[str]:
        return [
            q.problem for q in Mixer.from_specs(MixSpec(quotas={"math": 200}, seed=seed), specs)
        ]

    assert mix(1) == mix(1)
    assert mix(1) != mix(2)
    from_a = [int(problem.split()[1]) for problem in mix(1) if problem.startswith("a ")]
    assert from_a == list(range(len(from_a)))  # each source is read in file order


def test_a_dry_source_leaves_the_quota_to_the_others(tmp_path):
    small = SourceSpec(name="small", domain="math", path=str(write_source(tmp_path, "s", 10)))
    big = SourceSpec(name="big", domain="math", path=str(write_source(tmp_path, "g", 500)))
    mixer = Mixer.from_specs(MixSpec(quotas={"math": 300}), [small, big])
    assert Counter(q.source for q in mixer) == {"small": 10, "big": 290}


def test_mixing_streams_and_a_zero_quota_reads_nothing(specs):
    inputs = [CountingSource(spec) for spec in specs]
    stream = iter(Mixer(MixSpec(quotas={"math": 100, "code": 0}), inputs))
    first = list(islice(stream, 20))
    assert sum(source.pulled for source in inputs) == 20  # nothing read ahead
    rest = list(stream)
    assert len(first) + len(rest) == 100 and inputs[2].pulled == 0
    assert {q.domain for q in first + rest} == {"math"}


def test_mix_spec_from_config_and_bad_quota():
    spec = msgspec.convert({"quotas": {"math": 10, "science": 5}, "seed": 3}, MixSpec)
    assert spec.quotas == {"math": 10, "science": 5}
    with pytest.raises(
        msgspec.ValidationError, match=r"Expected `int` >= 0 - at `\$.quotas\[...\]`"
    ):
        msgspec.convert({"quotas": {"math": -1}}, MixSpec)
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value 'art'"):
        msgspec.convert({"quotas": {"art": 1}}, MixSpec)


@pytest.mark.parametrize(
    "quotas, max_questions", [({}, 0), ({"math": 400}, 0), ({"math": 400}, 420), ({"code": 0}, 0)]
)
def test_question_count_is_what_the_job_reads(specs, quotas, max_questions):
    recipe = Recipe(
        teacher=TeacherSpec(model="m"),
        output=OutputSpec(dir="unused"),
        sources=specs,
        mix=MixSpec(quotas=quotas),
        limits=LimitsSpec(max_questions=max_questions),
    )
    assert QuestionStream(recipe).count() == sum(1 for _ in QuestionStream(recipe))
    unmixed = msgspec.structs.replace(recipe, mix=None)
    assert QuestionStream(unmixed).count() == sum(1 for _ in QuestionStream(unmixed))
