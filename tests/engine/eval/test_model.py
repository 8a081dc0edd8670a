"""The model under test: an OpenAI-compatible URL or replicas, or ``--serve CHECKPOINT`` (a real
server process started for the eval, health-checked, and stopped at the end or when the eval
is killed). The served command here is the project's mock teacher, a real HTTP server; the
vLLM server itself is exercised in test_vllm.py."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from tests.engine.eval.suites import (
    benchmark_table,
    math_rows,
    start_eval,
    write_jsonl,
    write_suite,
)
from tests.helpers import kill_when, mock_process, read_samples, records, run_cli


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def _wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"server {pid} still running after {timeout}s"
        time.sleep(0.05)


def _served_suite(tmp_path: Path, questions: int, *mock_args: str) -> tuple[Path, Path, Path]:
    """A suite whose [serve] command runs the mock teacher and records its pid."""
    data = write_jsonl(tmp_path / "q.jsonl", math_rows(questions))
    pidfile = tmp_path / "server.pid"
    mock = [sys.executable, "-m", "engine", "mock-teacher", "--port", "{port}", *mock_args]
    script = f"echo $$ > {pidfile} && exec {shlex.join(mock)}"
    serve = f"[serve]\ncommand = {json.dumps(['sh', '-c', script])}\nhealth_timeout_s = 60"
    bench = benchmark_table("m", "math", 4, {"path": str(data), "fields": {"id": "id"}})
    out = tmp_path / "out"
    suite = write_suite(tmp_path / "s.toml", out, [bench], mock=None, extra=serve,
                        model="max_in_flight = 4")  # fmt: skip
    return suite, out, pidfile


def test_serve_starts_the_server_and_stops_it_at_the_end(tmp_path):
    suite, out, pidfile = _served_suite(tmp_path, 20)
    result = run_cli("eval", "--suite", str(suite), "--serve", "mock", "--quiet")
    assert result.returncode == 0, result.stderr
    pid = int(pidfile.read_text())
    _wait_gone(pid, timeout=5)  # stopped before the command returned, bar the reaping
    samples = read_samples(out / "m")
    assert len(samples) == 80 and all(s.completion for s in samples)
    assert {s.teacher.model for s in samples} == {"mock"}  # served under its checkpoint name
    manifest = json.loads((out / "eval.json").read_text())
    assert manifest["checkpoint"] == "mock" and manifest["model"]["base_url"].startswith(
        "http://127.0.0.1:"
    )


def test_a_killed_eval_takes_its_server_down(tmp_path):
    """kill -9 of the eval (on progress: records on disk) closes the watchdog's pipe."""
    suite, out, pidfile = _served_suite(tmp_path, 400, "--latency-ms", "20")
    kill_when(
        lambda: start_eval("--suite", str(suite), "--serve", "mock"),
        lambda: records(out / "m") >= 64,
    )
    _wait_gone(int(pidfile.read_text()))
    pidfile.unlink()
    result = run_cli("eval", "--suite", str(suite), "--serve", "mock", "--quiet")
    assert result.returncode == 0, result.stderr
    samples = read_samples(out / "m")
    keys = {(s.question_id, s.sample_index) for s in samples}
    assert len(samples) == len(keys) == 1600
    _wait_gone(int(pidfile.read_text()), timeout=5)


def test_a_server_that_cannot_start_fails_with_its_log(tmp_path):
    suite, _, _ = _served_suite(tmp_path, 2)
    command = (
        f"{sys.executable} -c \"import sys; print('no such model: {{checkpoint}}'); sys.exit(3)\""
    )
    result = run_cli(
        "eval", "--suite", str(suite), "--serve", "/no/ckpt", "--serve-command", command
    )
    assert result.returncode == 1, result.stderr
    assert "error: serve: model server exited with status 3" in result.stderr
    assert "no such model: /no/ckpt" in result.stderr and "Traceback" not in result.stderr


def test_replicas_share_the_work(tmp_path):
    rows = math_rows(40)
    key = write_jsonl(tmp_path / "key.jsonl", rows)
    data = write_jsonl(tmp_path / "q.jsonl", rows)
    bench = benchmark_table("m", "math", 2, {"path": str(data), "fields": {"id": "id"}})
    out = tmp_path / "out"
    suite = write_suite(tmp_path / "s.toml", out, [bench], mock=None)
    args = ("--answer-key", str(key), "--correct-rate", "1.0")
    with mock_process(*args) as a, mock_process(*args) as b:
        result = run_cli("eval", "--suite", str(suite), "--model", "mock", "--quiet",
                         "--base-url", a, "--base-url", b)  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    (bench_result,) = results["benchmarks"]
    assert bench_result["avg"]["mean"] == 1.0 and bench_result["samples"] == 80
    assert results["model"]["base_urls"] == [a, b]
