"""Fixtures for sandbox and code-verifier tests: a real Docker engine or, where none runs, a skip
(in CI, env CI=true, a missing engine fails instead: nothing is skipped there for lack of it).

Test modules load it with ``pytest_plugins`` and import its helpers, so it is not
assertion-rewritten: PYTEST_DONT_REWRITE."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from sandbox import Limits, Pool, open_pool
from sandbox.docker import DEFAULT_IMAGE

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("THOUGHTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))
POOL_SIZE = 2

#: small limits for attack and limit tests, so that each ends in about a second
TIGHT = Limits(time_s=1.0, wall_s=1.5, memory_mb=256, output_bytes=1 << 20, processes=32)


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


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def docker_pool() -> AsyncIterator[Pool]:
    """One warm Docker pool for the whole session (its containers start once); tests that use
    it run in the session's event loop: ``pytest.mark.asyncio(loop_scope="session")``."""
    require_docker()
    async with open_pool("docker", POOL_SIZE, answer_grace_s=3.0) as pool:
        yield pool
