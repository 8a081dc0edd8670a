"""Whole jobs against the mock teacher over loopback: every record exactly once, faults or not."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import Counter
from pathlib import Path

import pytest

from engine.job import Job
from engine.stages.plan import stream_scope
from engine.storage import shards
from engine.storage.output import RecipeChanged
from engine.storage.reader import iter_lines
from tests.helpers import (
    assert_exactly_once,
    mock_process,
    read_samples,
    recipe_toml,
    run_cli,
    write_questions,
)


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
        # one question in flight at a time: a shard seals with at most a few questions open
        teacher = f'model = "mock"\nbase_url = "{mock.url}"\nmax_in_flight = 1'
        recipe = make_recipe(mock.url, questions, teacher=teacher)
        assert await Job(recipe).run() == 0
        job = Job(recipe)
        job.output.open({}, job.recipe_hash)
        done = job.output.done_set(stream_scope(recipe, job.recipe_hash, None))
        assert done.complete_samples == 160
        # keys are read only for questions open when one of the 4 shards was sealed (a few
        # each: verification overlaps the next request), not for all 160
        assert done.samples <= 160 // 2
        assert await job.run() == 0
        assert mock.stats["requests"] == 40  # the second run asked for nothing
        write_questions(questions, 40)  # the same rows, rewritten: another mtime
        changed = job.output.done_set(stream_scope(recipe, job.recipe_hash, None))
        assert changed.complete_samples == 0 and changed.samples == 160  # every key read


def rows(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


EDITS = {
    "row added at the top": lambda lines: [NEW_ROW, *lines],
    "first row removed": lambda lines: lines[1:],
    "rows reordered": lambda lines: random.Random(5).sample(lines, len(lines)),
    "added, removed and reordered": lambda lines: [*lines[:0:-1], NEW_ROW],
}
NEW_ROW = json.dumps({"id": "new", "problem": "Compute 1 + 1.", "answer": "2"}) + "\n"


async def stop_after(job: Job, samples: int) -> None:
    """Stop the job (as SIGINT does) once it has written ``samples`` samples."""
    while job.metrics.samples_written < samples:
        await asyncio.sleep(0.001)
    job.on_signal()


@pytest.mark.parametrize("interrupted", [False, True], ids=["complete", "interrupted"])
@pytest.mark.parametrize("edit", EDITS)
async def test_editing_the_source_between_runs_never_duplicates_or_skips(
    tmp_path, mock_teacher, make_recipe, edit, interrupted
):
    """Completion is keyed by question id: rows added, removed or moved between two runs (the
    first one finished or stopped half-way) leave every current question with exactly n
    samples, and a removed one with what it had."""
    questions = write_questions(tmp_path / "q.jsonl", 60)
    before = {json.loads(line)["id"] for line in rows(questions)}
    # a stop after 40 samples leaves most questions unsampled: little in flight or buffered
    # (a stop drains what was generated; the verify queue of a fast teacher holds a lot)
    teacher, limits = "max_in_flight = 4", "queue_size = 4"
    async with mock_teacher(latency_ms=5) as mock:
        url_teacher = f'model = "mock"\nbase_url = "{mock.url}"\n{teacher}'
        job = Job(make_recipe(mock.url, questions, teacher=url_teacher, limits=limits))
        if interrupted:
            stopper = asyncio.ensure_future(stop_after(job, 40))
            assert await job.run() == 0
            await stopper
            assert 40 <= len(read_samples(tmp_path / "out")) < 200
        else:
            assert await job.run() == 0
        questions.write_text("".join(EDITS[edit](rows(questions))))
        after = {json.loads(line)["id"] for line in rows(questions)}
        assert (
            await Job(make_recipe(mock.url, questions, teacher=url_teacher, limits=limits)).run()
            == 0
        )
    keys = Counter((s.question_id, s.sample_index) for s in read_samples(tmp_path / "out"))
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]
    sampled = {q for q, _ in keys}
    assert {f"s:{q}" for q in after} <= sampled <= {f"s:{q}" for q in after | before}
    assert all(keys[(f"s:{q}", i)] == 1 for q in after for i in range(4))


def raw_keys(out: Path) -> Counter:
    """(question, sample) -> records on disk, superseded attempts included."""
    return Counter(
        tuple(json.loads(line)[k] for k in ("question_id", "sample_index"))
        for path in shards.list_shards(out)
        for line in iter_lines(path)
    )


def failing_teacher(url: str) -> str:
    return f'model = "mock"\nbase_url = "{url}"\nmax_attempts = 2\nbackoff_base_s = 0.01'


async def test_failed_samples_are_asked_again_until_they_succeed(
    tmp_path, mock_teacher, make_recipe
):
    """Teacher down for two runs (every sample a typed failure), back for the third: the
    third asks again for every sample, once; readers see one record per pair, with both
    failed attempts in its history; a fourth run asks nothing."""
    questions = write_questions(tmp_path / "q.jsonl", 10)
    out = tmp_path / "out"
    for attempt in (1, 2):
        async with mock_teacher(error_rate=1.0) as down:
            await Job(make_recipe(down.url, questions, teacher=failing_teacher(down.url))).run()
            assert down.stats["requests"] == 10 * 2  # every question asked, 2 attempts each
        samples = read_samples(out)
        assert_exactly_once(samples, 10, 4)
        assert {(s.failure.kind, s.failure.status) for s in samples} == {("server_error", 500)}
        assert all(len(s.history) == attempt - 1 for s in samples)
    async with mock_teacher(answer_key=str(questions)) as up:
        assert await Job(make_recipe(up.url, questions)).run() == 0
        assert up.stats["requests"] == 10
        assert await Job(make_recipe(up.url, questions)).run() == 0
        assert up.stats["requests"] == 10  # nothing left to retry
    samples = read_samples(out)
    assert_exactly_once(samples, 10, 4)
    assert all(s.failure is None and s.verdict is not None for s in samples)
    assert all([h.kind for h in s.history] == ["server_error"] * 2 for s in samples)
    assert set(raw_keys(out).values()) == {3}  # shards are append-only: 3 records per pair
    status = json.loads(run_cli("status", str(out), "--json").stdout)["streams"]["t"]
    assert status["records"] == 40 and status["superseded"] == 80
    assert sum(status["outcomes"].values()) == 40
    assert not [o for o in status["outcomes"] if "failed" in o]
    cat = [json.loads(line) for line in run_cli("cat", str(out)).stdout.splitlines()]
    assert Counter((r["question_id"], r["sample_index"]) for r in cat) == Counter(
        {(s.question_id, s.sample_index): 1 for s in samples}
    )
    assert all(r["failure"] is None and len(r["history"]) == 2 for r in cat)


async def test_no_retry_failed_asks_nothing_again(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 6)
    async with mock_teacher(error_rate=1.0) as down:
        await Job(make_recipe(down.url, questions, teacher=failing_teacher(down.url))).run()
    async with mock_teacher(answer_key=str(questions)) as up:
        output = f'dir = "{tmp_path / "out"}"\nretry_failed = false'
        assert await Job(make_recipe(up.url, questions, output=output)).run() == 0
        assert up.stats.get("requests", 0) == 0
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 6, 4)
    assert {s.failure.kind for s in samples} == {"server_error"}


def test_retry_failed_flags_override_the_recipe(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 6)
    out = tmp_path / "out"
    config = tmp_path / "r.toml"
    with mock_process("--error-rate", "1.0") as down:
        config.write_text(recipe_toml(down, questions, out, teacher=failing_teacher(down)))
        run_cli("run", "--config", str(config), "--quiet")
    assert {s.failure.kind for s in read_samples(out)} == {"server_error"}
    with mock_process("--answer-key", str(questions)) as up:
        output = f'dir = "{out}"\nretry_failed = true'
        config.write_text(recipe_toml(up, questions, out, output=output))
        kept = run_cli("run", "--config", str(config), "--quiet", "--no-retry-failed")
        assert kept.returncode == 0 and "0 samples written this run" in kept.stdout, kept.stderr
        config.write_text(config.read_text().replace("retry_failed = true", "retry_failed = false"))
        retried = run_cli("run", "--config", str(config), "--quiet", "--retry-failed")
        assert retried.returncode == 0 and "24 samples written this run" in retried.stdout
    samples = read_samples(out)
    assert_exactly_once(samples, 6, 4)
    assert all(s.failure is None and s.history[0].kind == "server_error" for s in samples)


async def test_infra_error_verdicts_are_verified_again(tmp_path, mock_teacher, make_recipe):
    """A verifier that broke (here: empty gold answers, an ``infra_error``) is not the
    answer's fault: once the golds are fixed, a rerun samples and verifies those again."""
    broken = tmp_path / "q.jsonl"
    write_questions(broken, 5)
    golds = broken.read_text()
    broken.write_text(
        "".join(json.dumps({**json.loads(r), "answer": " "}) + "\n" for r in rows(broken))
    )
    async with mock_teacher() as mock:
        job = Job(make_recipe(mock.url, broken))
        assert await job.run() == 1  # every sample unjudged: the run failed, and says why
        assert job.failure == "all 20 samples written this run failed (infra_error 20)"
        assert {s.verdict.status for s in read_samples(tmp_path / "out")} == {"infra_error"}
        broken.write_text(golds)
        assert await Job(make_recipe(mock.url, broken)).run() == 0
        assert mock.stats["requests"] == 10
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 5, 4)
    assert {s.verdict.status for s in samples} <= {"passed", "wrong_answer", "no_answer"}
    assert all([h.kind for h in s.history] == ["infra_error"] for s in samples)
