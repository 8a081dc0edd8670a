"""Decontamination: n-gram overlap and fuzzy matches against real benchmark files, via the index."""

from __future__ import annotations

import os
import random
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

from engine.decont import Decontaminator
from engine.decont.text import joined, ngrams, words
from engine.records import Contamination, Question
from engine.sources import Source, SourceError
from engine.specs import DecontSpec, FieldMap, SourceSpec
from tests.helpers import DATA, REPO

SHARED = Path(os.environ.get("THOUGHTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))
FIXTURE = SourceSpec(
    name="fixture",
    domain="math",
    path=str(DATA / "decont_benchmark.jsonl"),
    fields=FieldMap(id="id"),
)
BENCH = {q.id: q.problem for q in Source(FIXTURE)}
FILLER = [f"zq{i}" for i in range(300)]  # words no benchmark problem uses


@pytest.fixture(scope="module")
def decont() -> Decontaminator:
    return Decontaminator(DecontSpec(benchmarks=[FIXTURE]))


def ask(problem: str, qid: str = "q") -> Question:
    return Question(id=qid, domain="math", source="train", problem=problem)


def test_verbatim_and_embedded_problems_are_dropped_with_the_item_named(decont):
    assert decont.loaded == {"fixture": 8}
    verbatim = decont(ask(BENCH["fixture:b5"], "t1"))
    assert verbatim == Contamination(
        question_id="t1",
        benchmark="fixture",
        item_id="fixture:b5",
        method="ngram",
        score=verbatim.score,
        evidence=verbatim.evidence,
    )
    assert verbatim.score == len(words(BENCH["fixture:b5"])) - 12
    assert verbatim.evidence in joined(words(BENCH["fixture:b5"]))
    embedded = f"Homework 3, exercise 2. {BENCH['fixture:b1'].upper()} Show your work!"
    hit = decont(ask(embedded))
    assert hit is not None and hit.item_id == "fixture:b1" and hit.method == "ngram"


def test_unrelated_questions_pass(decont):
    assert decont(ask("Find the area of a square whose diagonal has length 10.")) is None
    assert decont(ask(" ".join(FILLER[:50]))) is None


def test_short_items_match_after_normalization_and_fuzzy_catches_light_edits(decont):
    exact_short = decont(ask("how many POSITIVE divisors does 360 have"))
    assert exact_short is not None and exact_short.item_id == "fixture:b4"
    assert exact_short.method == "ngram"
    edited = BENCH["fixture:b6"].replace("5", "6").replace("26", "27")  # breaks every 13-gram
    near = decont(ask(edited))
    assert near is not None and near.method == "fuzzy" and near.item_id == "fixture:b6"
    assert 95 <= near.score < 100
    assert near.evidence == BENCH["fixture:b6"]
    no_fuzzy = Decontaminator(DecontSpec(benchmarks=[FIXTURE], fuzzy_threshold=0))
    assert no_fuzzy(ask(edited)) is None


@settings(max_examples=150, deadline=None)
@given(
    item=st.sampled_from(["fixture:b1", "fixture:b2", "fixture:b5", "fixture:b8"]),
    run=st.integers(min_value=8, max_value=20),
    data=st.data(),
)
def test_any_13_word_run_at_any_offset_is_found_and_12_never(decont, item, run, data):
    """The strided probe lookup must miss nothing: a shared run of n words anywhere counts."""
    tokens = [t.decode() for t in words(BENCH[item])]
    run = min(run, len(tokens))
    start = data.draw(st.integers(0, len(tokens) - run))
    before = data.draw(st.integers(0, 30))
    after = data.draw(st.integers(0, 30))
    text = " ".join(FILLER[:before] + tokens[start : start + run] + FILLER[100 : 100 + after])
    found = decont(ask(text))
    if run >= 13:
        assert found is not None and found.method == "ngram" and found.item_id == item
    elif before + after >= 10:  # long enough that no fuzzy match is possible
        assert found is None


def test_spec_from_config_and_missing_benchmarks(tmp_path):
    spec = msgspec.convert(
        {
            "benchmarks": [
                {"name": "fx", "domain": "math", "path": str(DATA / "decont_benchmark.jsonl")},
                {
                    "name": "gone",
                    "domain": "science",
                    "path": str(tmp_path / "x.json"),
                    "optional": True,
                },
            ],
            "ngram": 13,
            "fuzzy_threshold": 90,
        },
        DecontSpec,
    )
    assert Decontaminator(spec).loaded == {"fx": 8, "gone": 0}
    required = DecontSpec(benchmarks=[SourceSpec(name="gone", domain="math", path=str(tmp_path))])
    with pytest.raises(SourceError, match="source 'gone': no data files"):
        Decontaminator(required)
    for bad, message in [
        ({"ngram": 0}, r"Expected `int` >= 1 - at `\$.ngram`"),
        ({"fuzzy_threshold": 101}, r"Expected `float` <= 100.0 - at `\$.fuzzy_threshold`"),
    ]:
        with pytest.raises(msgspec.ValidationError, match=message):
            msgspec.convert(bad, DecontSpec)


def brute_force(questions: list[Question], items: list[Question], n: int, threshold: float):
    """Reference: every question against every item, with plain sets and rapidfuzz."""
    item_grams = {}
    for item in items:
        for gram in ngrams(words(item.problem), n):
            item_grams.setdefault(gram, item.id)
    item_texts = [joined(words(item.problem)) for item in items]
    overlap, fuzzy = set(), set()
    for question in questions:
        tokens = words(question.problem)
        if any(gram in item_grams for gram in ngrams(tokens, n)):
            overlap.add(question.id)
        elif process.extractOne(
            joined(tokens), item_texts, scorer=fuzz.ratio, score_cutoff=threshold
        ):
            fuzzy.add(question.id)
    return overlap, fuzzy


def synthetic_questions(count: int, seed: int) -> list[Question]:
    """Filler sentences, some carrying a benchmark passage or a lightly edited benchmark problem."""
    rng = random.Random(seed)
    problems = list(BENCH.values())
    questions = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.2:
            tokens = words(rng.choice(problems))
            start = rng.randrange(len(tokens))
            passage = b" ".join(tokens[start : start + rng.randint(5, 20)]).decode()
            text = f"{' '.join(rng.sample(FILLER, 15))} {passage} {' '.join(rng.sample(FILLER, 5))}"
        elif kind < 0.3:  # one letter changed every 8 words: no 13-gram survives
            tokens = rng.choice(problems).split()
            for position in range(rng.randrange(8), len(tokens), 8):
                tokens[position] = tokens[position][:-1] + "x"
            text = " ".join(tokens)
        else:
            text = " ".join(rng.sample(FILLER, 40))
        questions.append(ask(text, f"s{i}"))
    return questions


def test_index_agrees_with_brute_force_on_synthetic_questions(decont):
    questions = synthetic_questions(600, seed=3)
    overlap, fuzzy = brute_force(questions, list(Source(FIXTURE)), 13, 95.0)
    found = {q.id: decont(q) for q in questions}
    assert {i for i, c in found.items() if c and c.method == "ngram"} == overlap
    assert {i for i, c in found.items() if c and c.method == "fuzzy"} == fuzzy
    assert overlap and fuzzy  # both paths were exercised


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared benchmark data not present")
def test_real_benchmarks_agree_with_brute_force_and_drop_themselves():
    benchmarks = [
        SourceSpec(name="math500", domain="math", path=str(SHARED / "math/math500.json")),
        SourceSpec(name="aime2024", domain="math", path=str(SHARED / "math/aime2024.json")),
        SourceSpec(name="amc", domain="math", path=str(SHARED / "math/amc.json")),
    ]
    decont = Decontaminator(DecontSpec(benchmarks=benchmarks))
    assert decont.loaded == {"math500": 500, "aime2024": 30, "amc": 83}
    items = [q for spec in benchmarks for q in Source(spec)]
    training = [
        q
        for file in ("math/olympiad_bench.json", "math/minerva.json")
        for q in Source(SourceSpec(name=file, domain="math", path=str(SHARED / file)))
    ]
    overlap, fuzzy = brute_force(training, items, 13, 95.0)
    found = {q.id: decont(q) for q in training}
    assert {i for i, c in found.items() if c and c.method == "ngram"} == overlap
    assert {i for i, c in found.items() if c and c.method == "fuzzy"} == fuzzy
    assert all(decont(item) is not None for item in items)
