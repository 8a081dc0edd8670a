"""An eval run is an output directory like a generation job's: samples with verdicts, exactly
once, resumable after kill -9, live progress; results come from the output alone."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.eval.runner import EvalRun
from engine.eval.suite import load_suite
from tests.engine.eval.suites import (
    benchmark_table,
    math_rows,
    start_eval,
    write_jsonl,
    write_suite,
)
from tests.helpers import (
    kill_when,
    mock_process,
    read_samples,
    records,
    run_cli,
    wait_for_records,
)

QUESTIONS, N = 150, 4
# what differs between two runs of one suite: the time, and the paths in the suite
VOLATILE = ("created", "packages", "suite_spec")


@pytest.fixture(scope="module")
def mock_url(tmp_path_factory) -> Iterator[str]:
    """One mock teacher process owned by the tests (a job's own ``[mock_teacher]`` would be
    orphaned by the kill -9 these tests deal out)."""
    rows = math_rows(QUESTIONS) + math_rows(QUESTIONS, start=1000)
    key = write_jsonl(tmp_path_factory.mktemp("key") / "key.jsonl", rows)
    with mock_process(
        "--answer-key", str(key), "--correct-rate", "0.5", "--latency-ms", "10"
    ) as url:
        yield url


def _suite(root: Path, out: Path, url: str, temperature: float = 0.7) -> Path:
    a = write_jsonl(root / "a.jsonl", math_rows(QUESTIONS))
    b = write_jsonl(root / "b.jsonl", math_rows(QUESTIONS, start=1000))
    data_a = {"path": str(a), "fields": {"id": "id"}, "difficulty": "level"}
    benchmarks = [
        benchmark_table("a", "math", N, data_a),
        benchmark_table("b", "math", N, {"path": str(b), "fields": {"id": "id"}}),
    ]
    suite = root / f"suite-{out.name}.toml"
    model = f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = 8'
    return write_suite(suite, out, benchmarks, mock=None, model=model, temperature=temperature)


def _figures(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    return {k: v for k, v in results.items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, mock_url) -> Path:
    """The same suite run once without interruption."""
    root = tmp_path_factory.mktemp("baseline")
    out = root / "out"
    result = run_cli("eval", "--suite", str(_suite(root, out, mock_url)), "--quiet")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("killed_in", ["a", "b"])
def test_kill_9_then_resume_gives_exactly_once_samples_and_the_same_results(
    tmp_path, baseline, mock_url, killed_in
):
    out = tmp_path / "out"
    suite = _suite(tmp_path, out, mock_url)
    kill_when(
        lambda: start_eval("--suite", str(suite)),
        lambda: records(out / killed_in) >= QUESTIONS * N // 4,
    )
    assert records(out / killed_in) < QUESTIONS * N  # killed mid-benchmark
    assert not (out / "results.json").exists()
    partial = run_cli("eval", "report", str(out))  # what is there so far, marked incomplete
    assert partial.returncode == 0 and "incomplete" in partial.stdout, partial.stderr
    result = run_cli("eval", "--suite", str(suite), "--quiet")
    assert result.returncode == 0, result.stderr
    for name in ("a", "b"):
        samples = read_samples(out / name)
        keys = Counter((s.question_id, s.sample_index) for s in samples)
        assert len(keys) == len(samples) == QUESTIONS * N, name
        assert all(s.verdict is not None for s in samples)
        first = {
            (s.question_id, s.sample_index): s.completion for s in read_samples(baseline / name)
        }
        assert {k: first[k] for k in keys} == {
            (s.question_id, s.sample_index): s.completion for s in samples
        }
    assert _figures(out) == _figures(baseline)
    assert json.loads((out / "eval.json").read_text())["state"] == "finished"


def test_report_recomputes_the_results_from_the_output_alone(tmp_path, baseline):
    copy = tmp_path / "copy"
    shutil.copytree(baseline, copy)
    (copy / "results.json").unlink()
    (copy / "report.html").unlink()
    result = run_cli("eval", "report", str(copy))
    assert result.returncode == 0, result.stderr
    assert "avg@n" in result.stdout and (copy / "report.html").stat().st_size > 10_000
    assert _figures(copy) == _figures(baseline)
    results = _figures(copy)
    a, b = results["benchmarks"]
    assert a["samples"] == a["samples_expected"] == QUESTIONS * N and a["scored"] == QUESTIONS * N
    assert abs(a["avg"]["mean"] - 0.5) < 4 * (0.25 / (QUESTIONS * N)) ** 0.5
    assert set(a["difficulty"]) == {"1", "2", "3", "4", "5"} and not b["difficulty"]


def test_a_second_run_finds_everything_done(baseline):
    suite = baseline.parent / "suite-out.toml"
    before = {name: records(baseline / name) for name in ("a", "b")}
    result = run_cli("eval", "--suite", str(suite), "--quiet")
    assert result.returncode == 0, result.stderr
    assert {name: records(baseline / name) for name in ("a", "b")} == before


def test_changed_sampling_or_data_is_refused(tmp_path, baseline):
    copy = tmp_path / "out"
    shutil.copytree(baseline, copy)
    text = (baseline.parent / "suite-out.toml").read_text().replace(str(baseline), str(copy))
    hotter = tmp_path / "hotter.toml"
    hotter.write_text(text.replace("temperature = 0.7", "temperature = 0.9"))
    result = run_cli("eval", "--suite", str(hotter), "--quiet")
    assert result.returncode == 3 and "recipe" in result.stderr, result.stderr
    moved = tmp_path / "moved.toml"
    shutil.copy(baseline.parent / "a.jsonl", tmp_path / "a.jsonl")
    moved.write_text(text.replace(str(baseline.parent / "a.jsonl"), str(tmp_path / "a.jsonl")))
    result = run_cli("eval", "--suite", str(moved), "--quiet")
    assert result.returncode == 3 and "benchmarks.data changed" in result.stderr, result.stderr
    assert (
        run_cli("eval", "--suite", str(moved), "--quiet", "--allow-recipe-change").returncode == 0
    )


def test_sigint_drains_the_running_benchmark_and_starts_no_other(tmp_path, mock_url):
    out = tmp_path / "out"
    suite = _suite(tmp_path, out, mock_url)
    run = start_eval("--suite", str(suite))
    try:
        wait_for_records(out / "a", QUESTIONS * N // 4, timeout=120)
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    assert b"stopped:" in stdout and b"run the same command again to resume" in stdout
    assert json.loads((out / "eval.json").read_text())["state"] == "interrupted"
    assert not (out / "b").joinpath("manifest.json").exists()  # b never started
    assert run_cli("eval", "--suite", str(suite), "--quiet").returncode == 0
    assert records(out / "a") == records(out / "b") == QUESTIONS * N


async def test_live_progress_names_the_running_benchmark(tmp_path, capsys, mock_url):
    from engine.cli.eval import _progress

    out = tmp_path / "out"
    runner = EvalRun(load_suite(_suite(tmp_path, out, mock_url)), out)
    progress = asyncio.ensure_future(_progress(runner, 0.005))
    try:
        assert await runner.run() == 0
    finally:
        progress.cancel()
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("[1/2 a] questions ") for line in lines), lines[:5]
    assert any(line.startswith("[2/2 b] questions ") for line in lines), lines[-5:]
    assert runner.finished
