"""Scoring stages against the mock teacher over loopback, and the rating parser's table."""

from __future__ import annotations

import re

import aiohttp
import msgspec
import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backends.openai_http import OpenAIBackend
from engine.pipeline import Pipeline
from engine.prompts import question_seed
from engine.records import Question, Score, Unscored
from engine.scoring.rating import NoRating, Rating, parse_rating
from engine.specs import ScorerSpec
from engine.stages.score import scoring_stages
from engine.testing.mock_teacher import mock_rating

RATINGS = [
    ("Difficulty: 7", 7, "difficulty"),
    ("difficulty: 7/10", 7, "difficulty"),
    ("**Difficulty:** 4", 4, "difficulty"),
    ("Difficulty level: 10", 10, "difficulty"),
    ("The difficulty is 3.", 3, "difficulty"),
    ("Difficulty = 2", 2, "difficulty"),
    ("Difficulty: 7.5", 7.5, "difficulty"),
    ("Difficulty: seven", 7, "difficulty"),
    ("Difficulty: 5 ... on reflection it is harder. Difficulty: 7", 7, "difficulty"),
    ("Difficulty: 6. Comparable to level 5-6 problems.", 6, "difficulty"),
    ("Level 5 needs segment trees; n up to 10^5. Difficulty: 6", 6, "difficulty"),
    ("<think>Maybe 3? No, it is harder.</think>\nDifficulty: 8", 8, "difficulty"),
    ("7/10", 7, "out_of_10"),
    ("I would rate this problem a 8 out of 10", 8, "out_of_10"),
    ("Score: 9/10", 9, "out_of_10"),
    ("Up to 10^5 values, level 3 to 5 ideas. I'd rate this a 7/10.", 7, "out_of_10"),
    ("\\boxed{7}", 7, "boxed"),
    ("The answer: $\\boxed{ 9 }$", 9, "boxed"),
    ("Rating: **6**", 6, "label"),
    ("Final rating: 3", 3, "label"),
    ("I'd rate this a 7.", 7, "phrase"),
    ("I'd give it a 5", 5, "phrase"),
    ("I would put it at 4", 4, "phrase"),
    ("**7**", 7, "bold"),
    ("On a scale of 1-10, this problem is about a 6.", 6, "last_number"),
    ("This is a 2D grid problem; I'd say 6.", 6, "last_number"),
    ("n <= 10^5, so it needs level 4 ideas", 4, "last_number"),
]

NO_RATINGS = [
    ("Difficulty: 12", "out_of_range"),
    ("Difficulty: 0", "out_of_range"),
    ("Difficulty: -1", "out_of_range"),
    ("\\boxed{11}", "out_of_range"),
    ("I cannot rate this problem.", "no_rating"),
    ("", "no_rating"),
    ("The array has 100000 elements and 20 queries.", "no_rating"),
    ("On a scale of 1 to 10.", "no_rating"),
    ("<think>still weighing it up, maybe a 6", "unfinished_thinking"),
]


@pytest.mark.parametrize(("reply", "value", "method"), RATINGS)
def test_ratings_are_read_from_many_phrasings(reply, value, method):
    assert parse_rating(reply) == Rating(value, method)


@pytest.mark.parametrize(("reply", "reason"), NO_RATINGS)
def test_replies_without_a_usable_rating_are_typed(reply, reason):
    result = parse_rating(reply)
    assert isinstance(result, NoRating) and result.reason == reason, result


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_reply_parses_to_a_rating_on_the_scale_or_a_reason(reply):
    result = parse_rating(reply)
    assert isinstance(result, NoRating) or 1 <= result.value <= 10


def scorer_spec(url: str, **extra: object) -> ScorerSpec:
    fields = {"model": "scorer", "base_url": url, "max_in_flight": 16, "backoff_base_s": 0.01}
    return msgspec.convert(fields | extra, ScorerSpec)


def ask(i: int, domain: str = "code") -> Question:
    problem = f"Given {i} stacks of boxes, print how many moves sort them. ({domain} {i})"
    return Question(id=f"{domain}{i}", domain=domain, source="s", problem=problem)  # type: ignore[arg-type]


class Collect:
    name, concurrency, drop_on_stop = "collect", 1, False

    def __init__(self) -> None:
        self.items: list[Question] = []

    async def process(self, question: Question, emit) -> None:
        self.items.append(question)


async def score(spec: ScorerSpec, questions: list[Question]):
    """Run the spec's scoring stages in a real pipeline; (scored, unscored, stages)."""
    unscored: list[tuple[Question, Unscored]] = []

    class Drop:  # stands in for the exclusion writer
        async def add(self, question: Question, stage: str, reason: Unscored) -> None:
            unscored.append((question, reason))

    backend = OpenAIBackend(spec)
    await backend.start()
    try:
        stages = scoring_stages(spec, backend, Drop())  # type: ignore[arg-type]
        collect = Collect()
        await Pipeline(questions, [*stages, collect], queue_size=8).run()
    finally:
        await backend.close()
    return collect.items, unscored, stages


async def test_difficulty_scores_are_the_mock_ratings_and_other_domains_pass(mock_teacher):
    questions = [ask(i) for i in range(40)] + [ask(i, "math") for i in range(10)]
    async with mock_teacher() as mock:
        spec = scorer_spec(mock.url, methods={"code": "difficulty"})
        scored, unscored, stages = await score(spec, questions)
        assert mock.stats["requests"] == 40
    assert not unscored and [s.name for s in stages] == ["difficulty"]
    by_id = {q.id: q for q in scored}
    assert set(by_id) == {q.id for q in questions}
    methods = set()
    for question in questions:
        scores = by_id[question.id].scores
        if question.domain == "math":
            assert scores == []
            continue
        (only,) = scores
        assert (only.stage, only.value) == ("difficulty", mock_rating(question.problem))
        methods.add(only.detail.removeprefix("scorer: "))
    assert methods == {"difficulty", "out_of_10", "bold", "boxed"}  # every phrasing the mock uses
    assert stages[0].scored == 40


async def test_length_score_is_the_completion_tokens_of_one_sampled_answer(mock_teacher):
    questions = [ask(i, "math") for i in range(12)]
    async with mock_teacher(completion_tokens=300) as mock:
        spec = scorer_spec(mock.url, methods={"math": "length"}, seed=5)
        scored, unscored, _ = await score(spec, questions)
        expected = {}
        async with aiohttp.ClientSession() as session:
            for q in questions:  # the same request by hand: a deterministic reply and its usage
                body = {
                    "model": "scorer",
                    "messages": [{"role": "user", "content": q.problem}],
                    "seed": question_seed(5, q.id),
                    "max_tokens": spec.answer_max_tokens,
                }
                async with session.post(mock.url + "/chat/completions", json=body) as response:
                    expected[q.id] = (await response.json())["usage"]["completion_tokens"]
    assert not unscored
    got = {q.id: q.scores for q in scored}
    assert got == {
        qid: [Score("length", tokens, "scorer: completion_tokens")]
        for qid, tokens in expected.items()
    }
    assert len(set(expected.values())) > 3  # lengths differ between questions


async def test_length_cut_at_the_budget_scores_the_budget(mock_teacher):
    async with mock_teacher(completion_tokens=300) as mock:
        spec = scorer_spec(mock.url, methods={"science": "length"}, answer_max_tokens=40)
        scored, unscored, _ = await score(spec, [ask(i, "science") for i in range(5)])
    assert not unscored
    assert {(s.value, s.detail) for q in scored for s in q.scores} == {
        (40.0, "scorer: completion_tokens, cut at answer_max_tokens=40")
    }


async def test_both_scorers_in_one_pipeline_score_their_own_domains(mock_teacher):
    questions = [ask(i, domain) for i in range(6) for domain in ("code", "math", "science")]
    async with mock_teacher() as mock:
        methods = {"code": "difficulty", "math": "length", "science": "length"}
        scored, unscored, stages = await score(scorer_spec(mock.url, methods=methods), questions)
        assert mock.stats["requests"] == 18
    assert not unscored and [s.name for s in stages] == ["difficulty", "length"]
    assert {(q.domain, tuple(s.stage for s in q.scores)) for q in scored} == {
        ("code", ("difficulty",)),
        ("math", ("length",)),
        ("science", ("length",)),
    }
    assert [stage.scored for stage in stages] == [6, 12]


async def test_failed_requests_go_to_the_drop_callback_with_the_backend_failure(mock_teacher):
    async with mock_teacher(error_rate=1.0) as mock:
        spec = scorer_spec(mock.url, methods={"code": "difficulty"}, max_attempts=2)
        scored, unscored, stages = await score(spec, [ask(i) for i in range(5)])
    assert scored == []
    assert sorted(q.id for q, _ in unscored) == [f"code{i}" for i in range(5)]
    for question, reason in unscored:
        assert (reason.question_id, reason.stage, reason.reason) == (
            question.id,
            "difficulty",
            "backend",
        )
        assert reason.failure is not None and reason.failure.kind == "server_error"
        assert question.scores == []
    assert stages[0].unscored == {"backend": 5}


async def test_a_rating_reply_cut_short_is_unscored_not_guessed(mock_teacher):
    async with mock_teacher() as mock:
        spec = scorer_spec(mock.url, methods={"code": "difficulty"}, rating_max_tokens=5)
        scored, unscored, _ = await score(spec, [ask(i) for i in range(4)])
    assert scored == []
    assert {(r.reason, r.detail) for _, r in unscored} == {
        ("truncated", "reply cut at rating_max_tokens=5")
    }
    encoded = msgspec.json.decode(msgspec.json.encode(unscored[0][1]))
    assert encoded["type"] == "unscored"  # tagged, like the other exclusion reasons


async def test_questions_already_scored_by_the_stage_make_no_request(mock_teacher):
    questions = [ask(i) for i in range(5)]
    for q in questions:
        q.scores = [Score("difficulty", 3.0, "earlier run")]
    async with mock_teacher() as mock:
        scored, _, _ = await score(scorer_spec(mock.url, methods={"code": "difficulty"}), questions)
        assert mock.stats.get("requests", 0) == 0
    assert [q.scores for q in scored] == [[Score("difficulty", 3.0, "earlier run")]] * 5


def test_no_stage_when_nothing_is_scored():
    spec = scorer_spec("http://127.0.0.1:9/v1", methods={"code": "none"})
    assert scoring_stages(spec, OpenAIBackend(spec), None) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"bogus": 1}, "unknown field `bogus`"),
        ({"methods": {"code": "hardness"}}, "Invalid enum value 'hardness'"),
        ({"methods": {"poetry": "length"}}, "Invalid enum value 'poetry'"),
        ({"rubric": {"user": "Rate this."}}, "user: must contain {problem} - at `$.rubric`"),
        ({"rating_max_tokens": 0}, "Expected `int` >= 1 - at `$.rating_max_tokens`"),
    ],
)
def test_bad_scorer_settings_are_named(extra, error):
    with pytest.raises(msgspec.ValidationError, match=re.escape(error)):
        scorer_spec("http://127.0.0.1:9/v1", **extra)


def test_scorer_spec_reads_from_toml_beside_a_recipe():
    """The section a recipe would carry: teacher keys plus scoring settings, one table."""
    text = """
    model = "gpt-4o-mini"
    base_url = "http://127.0.0.1:8000/v1"
    rpm = 600
    methods = { code = "difficulty", math = "length", science = "length" }
    rating_max_tokens = 256
    """
    spec = msgspec.convert(tomllib.loads(text), ScorerSpec)
    assert spec.rpm == 600 and spec.method("math") == "length" and spec.method("code")
    assert "{problem}" in spec.rubric.user and spec.answer_prompt.user == "{problem}"
