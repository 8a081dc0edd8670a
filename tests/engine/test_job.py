"""Whole jobs against the mock teacher over loopback: every record exactly once, faults or not."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from engine.job import Job
from engine.storage.output import RecipeChanged
from tests.helpers import assert_exactly_once, read_samples, write_questions


async def test_pass_rate_matches_the_mock_correct_rate(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 100)
    async with mock_teacher(answer_key=str(questions), correct_rate=0.6) as mock:
        job = Job(make_recipe(mock.url, questions))
        assert await job.run() == 0
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 100, 4)
    statuses = Counter(s.verdict.status for s in samples if s.verdict)
    assert set(statuses) <= {"passed", "wrong_answer"} and sum(statuses.values()) == 400
    rate = statuses["passed"] / 400
    assert abs(rate - 0.6) < 4 * math.sqrt(0.6 * 0.4 / 400), rate
    assert job.metrics.snapshot().pass_rate == pytest.approx(rate)
    seeds = {(s.question_id, s.sample_index): s.seed for s in samples}
    assert all(seeds[(q, i)] == seeds[(q, 0)] + i for q, i in seeds)
    assert mock.stats["requests"] == 100  # native n: one request per question


FAULTS = {
    "429 storm": dict(rpm=1200),
    "5xx burst": dict(error_rate=0.3),
    "garbage bodies": dict(garbage_rate=0.3),
    "disconnects": dict(disconnect_rate=0.3),
    "truncation": dict(truncate_rate=0.3),
    "everything": dict(error_rate=0.1, garbage_rate=0.1, disconnect_rate=0.1, truncate_rate=0.1),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_faults_end_with_every_record_exactly_once(
    tmp_path, mock_teacher, make_recipe, fault
):
    questions = write_questions(tmp_path / "q.jsonl", 60)
    async with mock_teacher(answer_key=str(questions), seed=11, **FAULTS[fault]) as mock:
        recipe = make_recipe(mock.url, questions)
        assert await Job(recipe).run() == 0
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 60, 4)
    for s in samples:
        assert (s.completion is None) == (s.failure is not None)
        assert s.failure is None or s.failure.kind in ("server_error", "bad_response", "connection")
    truncated = sum(s.truncated for s in samples)
    assert (truncated > 0) == ("truncate_rate" in FAULTS[fault])
    if "rpm" in FAULTS[fault]:
        assert mock.stats.get("rate_limited", 0) > 0


async def test_exhausted_retries_are_typed_failures(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 10)
    async with mock_teacher(error_rate=1.0) as mock:
        teacher = (
            f'model = "mock"\nbase_url = "{mock.url}"\nmax_attempts = 2\nbackoff_base_s = 0.01'
        )
        assert await Job(make_recipe(mock.url, questions, teacher=teacher)).run() == 1  # all failed
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 10, 4)
    assert {(s.failure.kind, s.failure.status, s.attempts) for s in samples} == {
        ("server_error", 500, 2)
    }


async def test_timeouts_are_typed_failures(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 3)
    async with mock_teacher(latency_ms=2000) as mock:
        teacher = (
            f'model = "mock"\nbase_url = "{mock.url}"\nmax_attempts = 2\n'
            "backoff_base_s = 0.01\nrequest_timeout_s = 0.2"
        )
        assert await Job(make_recipe(mock.url, questions, teacher=teacher)).run() == 1  # all failed
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 3, 4)
    assert {s.failure.kind for s in samples if s.failure} == {"timeout"}


@pytest.mark.parametrize("policy", ["keep", "drop", "retry"])
async def test_truncation_policy(tmp_path, mock_teacher, make_recipe, policy):
    questions = write_questions(tmp_path / "q.jsonl", 5)
    sampling = f'n = 2\nmax_tokens = 60\non_truncation = "{policy}"\ntruncation_max_tokens = 1000'
    async with mock_teacher(answer_key=str(questions), completion_tokens=200) as mock:
        assert await Job(make_recipe(mock.url, questions, sampling=sampling)).run() == 0
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 5, 2)
    if policy == "keep":
        assert all(s.truncated and s.completion and s.finish_reason == "length" for s in samples)
    elif policy == "drop":
        assert all(s.truncated and s.completion is None for s in samples)
        assert {s.failure.kind for s in samples} == {"truncated"}
    else:
        assert all(not s.truncated and s.finish_reason == "stop" for s in samples)
        assert all(s.attempts >= 2 for s in samples)


async def test_resume_generates_only_what_is_missing(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 30)
    async with mock_teacher(answer_key=str(questions)) as mock:
        first = make_recipe(mock.url, questions, limits="max_questions = 12")
        assert await Job(first).run() == 0
        assert mock.stats["requests"] == 12
        job = Job(make_recipe(mock.url, questions))
        assert await job.run() == 0
        assert mock.stats["requests"] == 30
    assert job.metrics.samples_skipped_resume == 48
    assert_exactly_once(read_samples(tmp_path / "out"), 30, 4)


async def test_more_samples_per_question_extends_the_output(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 8)
    async with mock_teacher(answer_key=str(questions)) as mock:
        assert await Job(make_recipe(mock.url, questions, sampling="n = 2")).run() == 0
        assert await Job(make_recipe(mock.url, questions, sampling="n = 5")).run() == 0
    assert_exactly_once(read_samples(tmp_path / "out"), 8, 5)


async def test_changed_recipe_is_refused_unless_allowed(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 4)
    async with mock_teacher() as mock:
        assert await Job(make_recipe(mock.url, questions)).run() == 0
        hotter = make_recipe(mock.url, questions, sampling="n = 4\ntemperature = 0.5")
        with pytest.raises(RecipeChanged, match="--allow-recipe-change"):
            await Job(hotter).run()
        assert await Job(hotter, allow_recipe_change=True).run() == 0
    samples = read_samples(tmp_path / "out")
    assert len(samples) == 32
    assert len({s.recipe_hash for s in samples}) == 2


@pytest.mark.parametrize(("correct_rate", "sampled"), [(1.0, 2), (0.0, 8)])
async def test_early_stop_once_k_answers_passed(
    tmp_path, mock_teacher, make_recipe, correct_rate, sampled
):
    questions = write_questions(tmp_path / "q.jsonl", 10)
    sampling = "n = 8\nmax_tokens = 1024\nstop_after_passed = 2"
    async with mock_teacher(answer_key=str(questions), correct_rate=correct_rate) as mock:
        job = Job(make_recipe(mock.url, questions, sampling=sampling))
        assert await job.run() == 0
        assert mock.stats["requests"] == 10 * sampled // 2  # rounds of k = 2 samples
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 10, 8)  # every index recorded: sampled or early_stopped
    stopped = [s for s in samples if s.failure is not None]
    assert all(s.failure.kind == "early_stopped" and s.completion is None for s in stopped)
    assert len(stopped) == job.metrics.early_stopped == 10 * (8 - sampled)


async def test_restart_reads_complete_ranges_not_every_key(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 40)
    async with mock_teacher(answer_key=str(questions)) as mock:
        recipe = make_recipe(mock.url, questions)
        assert await Job(recipe).run() == 0
        job = Job(recipe)
        done = job.output.open({}, job.scope)
        assert done.complete_samples == 160
        # keys are read only for questions in flight when a shard was sealed, not for all 160
        assert done.samples < 160 // 4
        assert await job.run() == 0
        assert mock.stats["requests"] == 40  # the second run asked for nothing
