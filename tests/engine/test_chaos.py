"""The engine process killed (SIGKILL) at random moments, and stopped by signals: nothing lost,
nothing duplicated once the same command has been run again to completion."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from tests.helpers import (
    assert_exactly_once,
    kill_when,
    mock_process,
    read_samples,
    recipe_toml,
    records,
    start_engine,
    wait_for_records,
    write_questions,
)

pytestmark = pytest.mark.slow


def config(tmp_path: Path, url: str, count: int) -> Path:
    questions = write_questions(tmp_path / "q.jsonl", count)
    path = tmp_path / "chaos.toml"
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
