"""``status OUTDIR`` of real runs: finished, running (a live engine holds the lock), interrupted
(SIGINT or SIGKILL on progress), failed (every request refused); empty and foreign directories
are one-line errors with exit 2; ``--json`` carries the same fields as the text."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import msgspec

from engine.records import Manifest
from engine.storage.shards import MANIFEST
from tests.helpers import (
    kill_when,
    mock_process,
    read_samples,
    recipe_toml,
    records,
    run_cli,
    start_engine,
    wait_for_records,
    write_questions,
)


def config(tmp_path: Path, url: str, questions: int, n: int = 4) -> Path:
    path = tmp_path / "job.toml"
    source = write_questions(tmp_path / "q.jsonl", questions)
    teacher = (
        f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = 8\nmax_attempts = 2\n'
        "backoff_base_s = 0.01\nbackoff_max_s = 0.02"
    )
    output = f'dir = "{tmp_path / "out"}"\nshard_records = 40\nflush_records = 4'
    sections = {"teacher": teacher, "sampling": f"n = {n}\nmax_tokens = 256", "output": output}
    path.write_text(recipe_toml(url, source, tmp_path / "out", **sections))
    return path


def status(out: Path) -> dict:
    """``status --json``, checked against the text ``status`` prints: every field the text
    shows has the JSON's value (for an output that does not change in between)."""
    text = run_cli("status", str(out))
    raw = run_cli("status", str(out), "--json")
    assert text.returncode == raw.returncode == 0, text.stderr + raw.stderr
    fields = json.loads(raw.stdout)
    head, done, domains, verdicts, failures, cost, *streams = text.stdout.splitlines()
    assert head.startswith(f"{out}: {fields['state']} (job {fields['name']})")
    assert (f"written by {fields['holder']}" in head) == (fields["holder"] is not None)
    expected = f"samples {fields['samples']}"
    if fields["samples_total"] is not None:
        expected += f" of {fields['samples_total']}"
    assert done.startswith(expected)
    for line, key in ((domains, "domains"), (verdicts, "verdicts"), (failures, "failures")):
        counts = line.partition(":")[2]
        shown = [item.rsplit(" ", 1) for item in counts.strip().split(", ") if " " in item]
        assert {name: int(count) for name, count in shown} == fields[key], line
    total = sum(usage["cost_usd"] for usage in fields["usage"].values())
    assert cost.startswith(f"  cost:       ${total:.4f}")
    for model, usage in fields["usage"].items():
        tokens = f"({usage['prompt_tokens']} in, {usage['completion_tokens']} out)"
        assert f"{model} ${usage['cost_usd']:.4f} {tokens}" in cost
    for name, summary in fields["streams"].items():
        assert any(line.startswith(f"{name}: {summary['records']} records") for line in streams)
    return fields


def live_status(out: Path) -> dict:
    """``status --json`` of an output a run is writing."""
    result = run_cli("status", str(out), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_counts_match_the_samples(fields: dict, out: Path) -> None:
    samples = read_samples(out, "t")
    assert fields["samples"] == len(samples)
    assert fields["domains"] == dict(Counter(s.domain for s in samples))
    kinds = Counter(s.failure.kind for s in samples if s.failure)
    verdicts = Counter(
        s.verdict.status if s.verdict else "unverified" for s in samples if not s.failure
    )
    assert fields["failures"] == dict(kinds) and fields["verdicts"] == dict(verdicts)


def test_a_finished_run_says_finished_with_its_total(tmp_path):
    with mock_process() as url:
        assert run_cli("run", "--config", str(config(tmp_path, url, 30)), "--quiet").returncode == 0
    fields = status(tmp_path / "out")
    assert fields["state"] == "finished" and fields["holder"] is None
    assert (fields["questions_total"], fields["samples_total"], fields["samples"]) == (30, 120, 120)
    assert fields["streams"]["t"]["questions"] == 30
    assert sum(fields["verdicts"].values()) == 120 and fields["failures"] == {}
    assert_counts_match_the_samples(fields, tmp_path / "out")


def test_running_then_interrupted_by_sigint(tmp_path):
    # 400 requests of 1 s, 8 at a time: the run lasts about a minute; it is looked at once it
    # has written its first records
    with mock_process("--latency-ms", "1000") as url:
        engine = start_engine(config(tmp_path, url, 400))
        try:
            wait_for_records(tmp_path / "out", 12)
            running = live_status(tmp_path / "out")
            assert engine.poll() is None, "the run ended before status looked"
            assert running["state"] == "running" and f"pid {engine.pid} " in running["holder"]
            assert running["samples_total"] == 1600 and 0 < running["samples"] < 1600
            engine.send_signal(signal.SIGINT)
            assert engine.wait(60) == 0
        finally:
            engine.kill()
    stopped = status(tmp_path / "out")
    assert stopped["state"] == "interrupted" and stopped["holder"] is None
    assert 0 < stopped["samples"] < stopped["samples_total"] == 1600
    assert_counts_match_the_samples(stopped, tmp_path / "out")


def test_a_killed_run_is_interrupted_not_running(tmp_path):
    out = tmp_path / "out"
    with mock_process("--latency-ms", "50") as url:
        path = config(tmp_path, url, 400)
        kill_when(lambda: start_engine(path), lambda: records(out) >= 12)
    manifest = msgspec.json.decode((out / MANIFEST).read_bytes(), type=Manifest)
    assert manifest.state == "running"  # what the killed run left
    fields = status(out)
    assert fields["state"] == "interrupted" and fields["holder"] is None


def test_a_run_whose_every_request_failed_is_failed(tmp_path):
    with mock_process("--error-rate", "1") as url:
        run = run_cli("run", "--config", str(config(tmp_path, url, 5, n=2)), "--quiet")
    assert run.returncode == 1 and "the job failed" in run.stderr
    fields = status(tmp_path / "out")
    assert fields["state"] == "failed"
    assert fields["failures"] == {"server_error": 10} and fields["verdicts"] == {}
    manifest = msgspec.json.decode((tmp_path / "out" / MANIFEST).read_bytes(), type=Manifest)
    assert manifest.state == "failed"


def test_empty_foreign_and_missing_directories_are_errors_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("not ours")
    for name, says in (
        ("empty", "empty directory"),
        ("foreign", "not a ThoughtMill output"),
        ("missing", "no such output directory"),
    ):
        for json_flag in ((), ("--json",)):
            result = run_cli("status", str(tmp_path / name), *json_flag)
            assert result.returncode == 2 and result.stdout == ""
            assert result.stderr.count("\n") == 1 and says in result.stderr
            assert str(tmp_path / name) in result.stderr
