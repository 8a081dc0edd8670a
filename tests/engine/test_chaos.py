"""The engine process killed (SIGKILL) at random moments, and stopped by signals: nothing lost,
nothing duplicated once the same command has been run again to completion."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from engine.records import Manifest
from engine.storage.output import MANIFEST
from tests.helpers import (
    assert_exactly_once,
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

pytestmark = pytest.mark.slow


def config(tmp_path: Path, url: str, count: int, name: str = "chaos.toml") -> Path:
    questions = tmp_path / "q.jsonl"
    if not questions.exists():
        write_questions(questions, count)
    path = tmp_path / name
    output = f'dir = "{tmp_path / "out"}"\nshard_records = 40\nflush_records = 6\nfsync = "flush"'
    teacher = f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = 16\nbackoff_base_s = 0.02'
    path.write_text(recipe_toml(url, questions, tmp_path / "out", output=output, teacher=teacher))
    return path


def test_sigkill_at_random_points_then_resume_is_exactly_once(tmp_path):
    rng = random.Random(2026)
    faults = ["--latency-ms", "100", "--latency-dist", "exponential", "--error-rate", "0.05"]
    with mock_process(*faults, "--disconnect-rate", "0.03", "--truncate-rate", "0.05") as url:
        path = config(tmp_path, url, 800)
        out = tmp_path / "out"
        # five kills at random points of progress, spread over the first two thirds of the work
        for target in sorted(rng.sample(range(60, 2200), 5)):
            kill_when(lambda: start_engine(path), lambda t=target: records(out) >= t)
        final = start_engine(path)
        stdout, stderr = final.communicate(timeout=120)
        assert final.returncode == 0, stderr.decode()
    assert b"finished" in stdout
    samples = read_samples(tmp_path / "out")
    assert_exactly_once(samples, 800, 4)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".part")]
    manifest = msgspec.json.decode((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest["state"] == "finished" and manifest["records"] == 3200


def started_with_records(tmp_path: Path, url: str, records: int) -> tuple[Path, subprocess.Popen]:
    """An engine run over 400 questions, once it has written ``records`` records."""
    path = config(tmp_path, url, 400)
    engine = start_engine(path)
    wait_for_records(tmp_path / "out", records)
    return path, engine


def test_sigint_drains_and_exits_zero_then_resumes(tmp_path):
    with mock_process("--latency-ms", "100") as url:
        path, engine = started_with_records(tmp_path, url, 20)
        engine.send_signal(signal.SIGINT)
        stdout, stderr = engine.communicate(timeout=60)
        assert engine.returncode == 0, stderr.decode()
        assert b"interrupted" in stdout
        out = tmp_path / "out"
        assert not [p for p in out.iterdir() if p.name.endswith(".part")]  # all shards sealed
        partial = read_samples(out)
        assert 0 < len(partial) < 1600
        resumed = start_engine(path)
        assert resumed.wait(120) == 0
    assert_exactly_once(read_samples(tmp_path / "out"), 400, 4)


def test_second_signal_exits_at_once_without_corrupting_output(tmp_path):
    with mock_process("--latency-ms", "400") as url:
        path, engine = started_with_records(tmp_path, url, 10)
        engine.send_signal(signal.SIGINT)
        time.sleep(0.05)
        started = time.monotonic()
        engine.send_signal(signal.SIGINT)
        engine.wait(30)
        assert engine.returncode == 130
        assert time.monotonic() - started < 5
        resumed = start_engine(path)
        assert resumed.wait(180) == 0
    assert_exactly_once(read_samples(tmp_path / "out"), 400, 4)


# One writer per output. The holder samples from a teacher that answers after 1 s, 16 requests
# at a time: 400 questions take it at least 25 s, so every refusal below happens while it runs
# (asserted, not assumed); a second, fast teacher then finishes the job.

SLOW = ("--latency-ms", "1000")
QUESTIONS = 400


def holders_pid_named(refused: str, holder: subprocess.Popen) -> None:
    assert refused.count("\n") == 1, refused  # one line, no traceback
    assert f"pid {holder.pid} on host {socket.gethostname()}" in refused, refused


def finish(tmp_path: Path, fast: str) -> None:
    """Run the job to its end against the fast teacher: every pair exactly once."""
    path = config(tmp_path, fast, QUESTIONS, "fast.toml")
    done = run_cli("run", "--config", str(path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "finished" in done.stdout
    assert_exactly_once(read_samples(tmp_path / "out"), QUESTIONS, 4)


def stop(engine: subprocess.Popen) -> None:
    engine.send_signal(signal.SIGINT)
    assert engine.wait(60) == 0, engine.stderr.read().decode()


def test_a_second_run_beside_a_running_one_is_refused_at_once(tmp_path):
    with mock_process(*SLOW) as slow, mock_process() as fast:
        holder = start_engine(config(tmp_path, slow, QUESTIONS))
        try:
            wait_for_records(tmp_path / "out", 16)
            second = run_cli("run", "--config", str(tmp_path / "chaos.toml"), "--quiet")
            assert holder.poll() is None, "the holder ended before the second run was refused"
            assert second.returncode == 2 and second.stdout == ""
            holders_pid_named(second.stderr, holder)
            stop(holder)
        finally:
            holder.kill()
        finish(tmp_path, fast)


def test_two_runs_started_together_one_is_refused(tmp_path):
    with mock_process(*SLOW) as slow, mock_process() as fast:
        path = config(tmp_path, slow, QUESTIONS)
        runs = [start_engine(path), start_engine(path)]
        try:
            deadline = time.monotonic() + 120
            while all(run.poll() is None for run in runs):
                assert time.monotonic() < deadline, "neither run was refused"
                time.sleep(0.005)
            (loser,) = [run for run in runs if run.poll() is not None]
            (winner,) = [run for run in runs if run is not loser]
            assert loser.returncode == 2 and loser.stdout.read() == b""
            holders_pid_named(loser.stderr.read().decode(), winner)
            wait_for_records(tmp_path / "out", 16)
            assert winner.poll() is None
            stop(winner)
        finally:
            for run in runs:
                run.kill()
        finish(tmp_path, fast)


def test_a_killed_holders_lock_is_taken_over_by_the_next_run(tmp_path):
    with mock_process(*SLOW) as slow, mock_process() as fast:
        holder = start_engine(config(tmp_path, slow, QUESTIONS))
        try:
            wait_for_records(tmp_path / "out", 16)
        finally:
            holder.kill()
            holder.wait()
        path = config(tmp_path, fast, QUESTIONS, "fast.toml")
        taken = run_cli("run", "--config", str(path), "--quiet")
        assert taken.returncode == 0, taken.stderr
        assert f"took over the output lock of pid {holder.pid} " in taken.stderr
    assert_exactly_once(read_samples(tmp_path / "out"), QUESTIONS, 4)


def test_readers_never_need_the_lock_nor_see_a_half_written_output(tmp_path):
    """status, cat and the reader, again and again while a run seals a shard every 40 records
    and flushes a frame every 6: each read is whole (no duplicate, no error) and the counts only
    grow."""
    with mock_process(*SLOW) as slow, mock_process() as fast:
        holder = start_engine(config(tmp_path, slow, QUESTIONS))
        out = tmp_path / "out"
        try:
            wait_for_records(out, 1)
            seen, reads, commands = 0, 0, 0
            while reads < 30 or commands < 3 or seen < 100:  # seals happen every 40 records
                samples = read_samples(out)
                keys = {(s.question_id, s.sample_index) for s in samples}
                assert len(keys) == len(samples) >= seen
                seen, reads = len(samples), reads + 1
                if reads % 10 == 0:
                    status = run_cli("status", str(out), "--json")
                    cat = run_cli("cat", str(out))
                    assert status.returncode == cat.returncode == 0, status.stderr + cat.stderr
                    lines = cat.stdout.splitlines()
                    assert len(set(lines)) == len(lines) >= seen
                    manifest = msgspec.json.decode((out / MANIFEST).read_bytes(), type=Manifest)
                    assert manifest.state == "running"
                    commands += 1
            assert holder.poll() is None, "the run ended before the readers were done"
            stop(holder)
        finally:
            holder.kill()
        finish(tmp_path, fast)
