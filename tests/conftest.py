"""Shared fixtures: a real mock-teacher server on loopback, question files, recipes."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from engine.config import Recipe, parse_recipe
from engine.mock_teacher import MockOptions, MockTeacher, bound_port, serve

REPO = Path(__file__).resolve().parents[1]
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


class RunningMock:
    def __init__(self, url: str, teacher: MockTeacher):
        self.url = url
        self.teacher = teacher

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.teacher.stats)


@pytest.fixture
def mock_teacher() -> Callable[..., contextlib.AbstractAsyncContextManager[RunningMock]]:
    """``async with mock_teacher(**options) as mock`` runs a mock teacher on a free port."""

    @contextlib.asynccontextmanager
    async def start(**options: object) -> AsyncIterator[RunningMock]:
        teacher = MockTeacher(MockOptions(**options))  # type: ignore[arg-type]
        runner = await serve(teacher)
        try:
            yield RunningMock(f"http://127.0.0.1:{bound_port(runner)}/v1", teacher)
        finally:
            await runner.cleanup()

    return start


@pytest.fixture
def make_recipe(tmp_path: Path) -> Callable[..., Recipe]:
    def make(url: str, questions: Path, **sections: str) -> Recipe:
        return parse_recipe(recipe_toml(url, questions, tmp_path / "out", **sections), "t.toml")

    return make


@contextlib.contextmanager
def mock_process(*args: str):
    """The mock teacher as its own process (``python -m engine mock-teacher``); yields its URL."""
    import subprocess
    import sys

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
