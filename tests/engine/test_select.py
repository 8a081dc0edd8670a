"""Top-N selection: the reference ranking, order independence, bounded memory, persistence."""

from __future__ import annotations

import math
import random
import shutil
import subprocess

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backends.openai_http import OpenAIBackend
from engine.pipeline import Pipeline
from engine.records import NotSelected, Question, Score
from engine.specs import OutputSpec, ScorerSpec, SelectSpec
from engine.stages.score import scoring_stages
from engine.stages.top_n import TopN
from engine.storage import shards
from engine.storage.selection import SelectionError, load_selection, save_selection
from engine.testing.mock_teacher import mock_rating

DOMAINS = ("math", "code", "science")


def scored(qid: str, domain: str, *scores: tuple[str, float]) -> Question:
    return Question(
        id=qid,
        domain=domain,  # type: ignore[arg-type]
        source="s",
        problem=f"problem {qid}",
        scores=[Score(stage, value) for stage, value in scores],
    )


def reference(questions, spec: SelectSpec) -> dict[str, list[str]]:
    """Sort everything, take the first N: what the bounded heaps must reproduce."""
    sign = -1 if spec.order == "descending" else 1
    chosen = {}
    for domain, n in spec.top.items():
        pool = [q for q in questions if q.domain == domain]
        pool.sort(key=lambda q: (sign * q.scores[-1].value, q.id))
        chosen[domain] = [q.id for q in pool[:n]]
    return chosen


def run(questions, spec: SelectSpec) -> tuple[dict[str, list[str]], list[NotSelected]]:
    topn = TopN(spec)
    out = []
    for question in questions:
        if (dropped := topn.add(question)) is not None:
            assert dropped[0].id == dropped[1].question_id
            out.append(dropped[1])
    chosen: dict[str, list[str]] = {domain: [] for domain in spec.top}
    for question in topn.selected():
        chosen[question.domain].append(question.id)
    return chosen, out


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(0, 6), min_size=0, max_size=80),  # few values: many ties
    n=st.integers(0, 12),
    order=st.sampled_from(["descending", "ascending"]),
    shuffle_seed=st.integers(0, 2**16),
)
def test_selection_is_the_reference_ranking_in_any_arrival_order(values, n, order, shuffle_seed):
    questions = [
        scored(f"q{i:03d}", DOMAINS[i % 3], ("length", float(v))) for i, v in enumerate(values)
    ]
    spec = SelectSpec(top=dict.fromkeys(DOMAINS, n), order=order)
    random.Random(shuffle_seed).shuffle(questions)
    chosen, out = run(questions, spec)
    assert chosen == reference(questions, spec)
    assert len(out) == len(questions) - sum(map(len, chosen.values()))
    assert {o.question_id for o in out}.isdisjoint(i for ids in chosen.values() for i in ids)
    assert all(o.reason == "below_top_n" for o in out)


def test_memory_is_bounded_by_n_per_domain_over_a_long_stream():
    spec = SelectSpec(top={"math": 50, "code": 20}, by={"math": "length", "code": "difficulty"})
    topn = TopN(spec)
    rng = random.Random(1)
    peak = dropped = total = 0

    def stream():  # generated lazily: the selection never sees the whole set at once
        for i in range(60_000):
            domain = "math" if i % 3 else "code"
            stage = "length" if domain == "math" else "difficulty"
            yield scored(f"q{i}", domain, ("other", 99.0), (stage, rng.random()))

    for question in stream():
        total += 1
        dropped += topn.add(question) is not None
        peak = max(peak, topn.held)
    assert peak == 70 and dropped == total - 70
    kept = topn.selected()
    assert [q.domain for q in kept] == ["code"] * 20 + ["math"] * 50  # domains by name, best first
    math_scores = [q.scores[-1].value for q in kept if q.domain == "math"]
    assert math_scores == sorted(math_scores, reverse=True) and math_scores[-1] > 0.99


def test_a_displaced_question_is_reported_with_its_score():
    topn = TopN(SelectSpec(top={"code": 2}))
    assert topn.add(scored("a", "code", ("difficulty", 5))) is None
    assert topn.add(scored("b", "code", ("difficulty", 7))) is None
    question, out = topn.add(scored("c", "code", ("difficulty", 9)))
    assert question.id == "a"
    assert out == NotSelected(
        question_id="a",
        domain="code",
        reason="below_top_n",
        score=5.0,
        detail="not in the top 2 code questions (descending)",
    )
    question, out = topn.add(scored("d", "code", ("difficulty", 7)))  # ties b; b's id is smaller
    assert (question.id, out.score) == ("d", 7.0)
    assert [q.id for q in topn.selected()] == ["c", "b"]


def test_questions_without_the_ranking_score_are_not_selected():
    topn = TopN(SelectSpec(top={"math": 5}, by={"math": "length"}))
    outs = [
        topn.add(scored("a", "math", ("difficulty", 5))),
        topn.add(scored("b", "math")),
        topn.add(scored("c", "math", ("length", math.nan))),
    ]
    assert [(q.id, o.reason, o.detail) for q, o in outs] == [
        ("a", "no_score", "no score from length"),
        ("b", "no_score", "no score from length"),
        ("c", "no_score", "no score from length"),
    ]
    assert topn.selected() == [] and topn.held == 0


def test_uncapped_domains_keep_everything_in_arrival_order():
    topn = TopN(SelectSpec(top={"code": 1}))
    for i in range(5):
        assert topn.add(scored(f"m{i}", "math")) is None
    assert topn.add(scored("c1", "code", ("difficulty", 1))) is None
    assert topn.add(scored("c2", "code", ("difficulty", 2)))[0].id == "c1"
    assert [q.id for q in topn.selected()] == ["c2", "m0", "m1", "m2", "m3", "m4"]


def test_bad_select_spec_is_named():
    with pytest.raises(msgspec.ValidationError, match=r"Expected `int` >= 0 - at `\$.top\[...\]`"):
        msgspec.convert({"top": {"code": -1}}, SelectSpec)
    with pytest.raises(msgspec.ValidationError, match="unknown field `n`"):
        msgspec.convert({"n": 3}, SelectSpec)


OUT = OutputSpec(dir=".", flush_records=1024)  # several frames for 2500 questions


def rich_questions(count: int) -> list[Question]:
    return [
        Question(
            id=f"q{i}",
            domain=DOMAINS[i % 3],  # type: ignore[arg-type]
            source="src",
            problem=f"Problem {i}: ünïcode ∑ and a newline\nsecond line",
            answer=str(i),
            tests=[{"input": f"{i}\n", "output": f"{i * 2}\n"}] if i % 3 == 1 else None,
            choices=["a", "b", "c"] if i % 3 == 2 else None,
            tags=["t"],
            metadata={"row": i},
            scores=[Score("length", float(i), "scorer: completion_tokens")],
        )
        for i in range(count)
    ]


async def test_selection_round_trips_through_an_atomic_zstd_file(tmp_path):
    path = tmp_path / "barrier" / "selection.jsonl.zst"
    assert load_selection(path) is None
    questions = rich_questions(2500)  # several frames
    assert await save_selection(path, iter(questions), OUT) == 2500
    assert list(load_selection(path)) == questions
    assert [p.name for p in path.parent.iterdir()] == ["selection.jsonl.zst"]
    if shutil.which("zstd"):  # an ordinary zstd JSONL file (the index frame is skippable)
        text = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
        lines = text.splitlines()
        assert len(lines) == 2500
        assert msgspec.json.decode(lines[7], type=Question) == questions[7]


async def test_a_torn_tmp_file_is_ignored_and_a_crashed_save_keeps_the_old_selection(tmp_path):
    path = tmp_path / "selection.jsonl.zst"
    part = path.with_name(path.name + shards.PART)
    part.write_bytes(b"\x28\xb5\x2f\xfd torn frame")  # a save killed mid-write, before any
    assert load_selection(path) is None
    first = rich_questions(10)
    await save_selection(path, first, OUT)
    assert not part.exists() and list(load_selection(path)) == first

    def crashing():
        yield from rich_questions(3000)
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        await save_selection(path, crashing(), OUT)
    assert part.exists()  # the torn attempt, never read
    assert list(load_selection(path)) == first
    await save_selection(path, first[:4], OUT)
    assert not part.exists() and list(load_selection(path)) == first[:4]


async def test_a_damaged_selection_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "selection.jsonl.zst"
    await save_selection(path, rich_questions(3000), OUT)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip a byte inside a data frame: its checksum fails
    path.write_bytes(bytes(data))
    with pytest.raises(SelectionError, match=f"{path}: .* records readable, the index says 3000"):
        list(load_selection(path))
    path.write_bytes(b"not zstd at all")
    with pytest.raises(SelectionError, match="not a sealed selection file"):
        load_selection(path)


async def test_scored_by_the_mock_then_selected_and_persisted(tmp_path, mock_teacher):
    """Scoring stages feed the barrier; the saved top-N is the one the mock's ratings imply."""
    questions = [
        Question(id=f"c{i:02d}", domain="code", source="s", problem=f"Sort {i} stacks of boxes.")
        for i in range(60)
    ]
    spec = SelectSpec(top={"code": 10}, by={"code": "difficulty"})
    topn = TopN(spec)

    class Barrier:
        name, concurrency, drop_on_stop = "select", 1, False

        async def process(self, question: Question, emit) -> None:
            topn.add(question)

    class Unexpected:  # no question may be excluded
        async def add(self, question, stage, reason):
            raise AssertionError(reason)

    async with mock_teacher() as mock:
        fields = {"model": "m", "base_url": mock.url, "methods": {"code": "difficulty"}}
        scorer = msgspec.convert(fields, ScorerSpec)
        backend = OpenAIBackend(scorer)
        await backend.start()
        stages = scoring_stages(scorer, backend, Unexpected())  # type: ignore[arg-type]
        await Pipeline(questions, [*stages, Barrier()], queue_size=4).run()
        await backend.close()
    path = tmp_path / "selection.jsonl.zst"
    await save_selection(path, topn.selected(), OUT)
    expected = sorted(questions, key=lambda q: (-mock_rating(q.problem), q.id))[:10]
    loaded = list(load_selection(path))
    assert [q.id for q in loaded] == [q.id for q in expected]
    assert [q.scores[0].value for q in loaded] == [mock_rating(q.problem) for q in expected]
