"""Helpers shared by the tests: paths, question files, recipes, a mock-teacher process, CLI
runs, exactly-once checks, progress-triggered kills, and the Docker precondition."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.records import Sample
from engine.storage import shards
from engine.storage.reader import iter_lines, open_shards, read_records
from sandbox import Limits
from sandbox.docker import DEFAULT_IMAGE

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SHARED_DATA = Path(os.environ.get("THOUGHTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))


def write_questions(path: Path, count: int, start: int = 0) -> Path:
    """A JSONL file of ``count`` arithmetic questions with ids ``q{i}`` and integer answers."""
    with path.open("w") as f:
        for i in range(start, start + count):
            row = {"id": f"q{i}", "problem": f"Compute {i} + {i + 1}.", "answer": str(2 * i + 1)}
            f.write(json.dumps(row) + "\n")
    return path


def recipe_toml(url: str, questions: Path, out: Path, **sections: str) -> str:
    """A small recipe; keyword arguments replace or add whole TOML sections by name."""
    parts = {
        "job": 'name = "t"\nseed = 3',
        "teacher": f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = 32\n'
        "backoff_base_s = 0.01\nbackoff_max_s = 0.2\nrequest_timeout_s = 5",
        "sampling": "n = 4\nmax_tokens = 1024",
        "output": f'dir = "{out}"\nshard_records = 50\nflush_records = 8',
    }
    parts.update(sections)
    source = (
        f'[[sources]]\nname = "s"\ndomain = "math"\npath = "{questions}"\n'
        'fields = { id = "id" }\n'
    )
    return source + "\n".join(f"[{name}]\n{body}\n" for name, body in parts.items())


@contextlib.asynccontextmanager
async def serving(app):
    """``app`` (an aiohttp Application) on a free loopback port; yields its ``/v1`` URL."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def mock_process(*args: str):
    """The mock teacher as its own process (``python -m engine mock-teacher``); yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "mock-teacher", "--port", "0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert "http://" in line, line
        yield line[line.index("http://") :].strip()
    finally:
        process.terminate()
        process.wait(10)


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``python -m engine ARGS`` to completion, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True
    )


def start_engine(config: Path) -> subprocess.Popen:
    """``python -m engine run --config CONFIG --quiet`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--config", str(config), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_samples(directory: Path, name: str | None = None) -> list[Sample]:
    """The samples readers see: the last record of each key (a retry replaces its failure)."""
    return list(read_records(open_shards(directory, name), Sample))


def assert_exactly_once(samples: list[Sample], questions: int, n: int) -> None:
    keys = Counter((s.question_id, s.sample_index) for s in samples)
    assert len(samples) == questions * n, f"{len(samples)} records, expected {questions * n}"
    assert max(keys.values()) == 1, f"duplicates: {[k for k, c in keys.items() if c > 1][:5]}"
    expected = {(f"s:q{i}", j) for i in range(questions) for j in range(n)}
    assert set(keys) == expected


def wait_for_records(out: Path, minimum: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while records(out) < minimum:
        assert time.monotonic() < deadline, f"no {minimum} records in {out} after {timeout}s"
        time.sleep(0.01)


def records(out: Path, name: str | None = None) -> int:
    """Records on disk in the shards of ``out`` (of one stream when ``name`` is given), read
    while a run writes them: a ``.part`` renamed between listing and reading means read again."""
    while True:
        try:
            return sum(1 for path in shards.list_shards(out, name) for _ in iter_lines(path))
        except FileNotFoundError:
            continue


def kill_when(start: Callable[[], subprocess.Popen], reached: Callable[[], bool]) -> None:
    """Start a run and SIGKILL it as soon as ``reached()`` holds (a point of progress, never a
    time); the run must not end before it."""
    run = start()
    deadline = time.monotonic() + 300
    try:
        while not reached():
            assert run.poll() is None, f"run ended (rc {run.returncode}) before its fault point"
            assert time.monotonic() < deadline, "fault point not reached in 300 s"
            time.sleep(0.005)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == -signal.SIGKILL


#: small limits for attack and limit tests, so that each ends in about a second
TIGHT = Limits(time_s=1.0, wall_s=1.5, memory_mb=256, output_bytes=1 << 20, processes=32)
POOL_SIZE = 2


def docker_problem() -> str | None:
    """Why the Docker sandbox cannot run here, or None when it can."""
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        return f"docker CLI unusable: {error}"
    if info.returncode != 0:
        return "no Docker engine answers `docker info` (run .ci/docker.sh)"
    image = subprocess.run(["docker", "image", "inspect", DEFAULT_IMAGE], capture_output=True)
    if image.returncode != 0:
        return f"image {DEFAULT_IMAGE} missing (run `python -m sandbox build-image`)"
    return None


def require_docker() -> None:
    problem = docker_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Docker sandbox tests: {problem}")
    pytest.skip(problem)


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (shared data is optional)")
    return path
