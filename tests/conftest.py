"""Fixtures: a real mock-teacher server on loopback, recipes, a warm Docker sandbox pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

pytest.register_assert_rewrite("tests.helpers")

from engine.config import Recipe, parse_recipe  # noqa: E402
from engine.testing.mock_teacher import MockOptions, MockTeacher, bound_port, serve  # noqa: E402
from sandbox import Pool, open_pool  # noqa: E402
from tests.helpers import POOL_SIZE, recipe_toml, require_docker  # noqa: E402


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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def docker_pool() -> AsyncIterator[Pool]:
    """One warm Docker pool for the whole session (its containers start once); tests that use
    it run in the session's event loop: ``pytest.mark.asyncio(loop_scope="session")``."""
    require_docker()
    async with open_pool("docker", POOL_SIZE, answer_grace_s=3.0) as pool:
        yield pool
