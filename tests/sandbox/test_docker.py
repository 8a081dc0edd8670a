"""The Docker pool heals itself: dead or hung containers are replaced, a lost job is retried once
elsewhere and then reported as infra_error (never as a wrong answer); plus the CLI commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from sandbox import Limits, Pool, Program, open_pool
from sandbox.docker import DEFAULT_IMAGE, docker
from tests.helpers import REPO, require_docker
from tests.sandbox.progress import job_running, until
from verifiers.code import CodeVerifier

pytestmark = pytest.mark.docker

SLOW_ECHO = Program("python", "import time\ntime.sleep(1.0)\nprint(input())")
LONG_ECHO = Program("python", "import time\ntime.sleep(3.0)\nprint(input())")
QUICK = Limits(time_s=2, wall_s=4, compile_s=3)


@pytest.fixture(autouse=True)
def _docker() -> None:
    require_docker()


async def healed(pool: Pool, lost: set[str]) -> list[str]:
    """Wait until the pool is back to full size without any of the lost containers."""

    def whole() -> bool:
        names = pool.worker_names()
        return len(names) == pool.size and not lost & set(names)

    await until(whole, f"healing of the pool (now {pool.worker_names()})")
    return pool.worker_names()


@pytest.mark.slow
async def test_killed_containers_are_replaced_and_their_job_retried() -> None:
    async with open_pool("docker", 2, answer_grace_s=2) as pool:
        lost = set(pool.worker_names())
        job = asyncio.create_task(pool.run(LONG_ECHO, "survived\n", Limits(time_s=2, wall_s=20)))
        await job_running(pool)  # sent to one of them, which sleeps far longer than a kill takes
        code, output = await docker("kill", *lost)
        assert code == 0, output
        result = await job
        assert (result.status, result.stdout) == ("ok", "survived\n")
        assert result.worker not in lost
        assert len(await healed(pool, lost)) == 2
        assert pool.replaced == 2


@pytest.mark.slow
async def test_hung_container_is_replaced_and_its_job_retried() -> None:
    async with open_pool("docker", 1, answer_grace_s=1) as pool:
        [hung] = pool.worker_names()
        code, output = await docker("pause", hung)
        assert code == 0, output
        result = await pool.run(Program("python", "print('fresh')"), limits=QUICK)
        assert (result.status, result.stdout) == ("ok", "fresh\n")
        assert result.worker != hung
        await healed(pool, {hung})
    code, _ = await docker("inspect", hung)
    assert code != 0, "the hung container was not removed"


@pytest.mark.slow
async def test_a_job_lost_twice_is_an_infra_error_never_a_wrong_answer() -> None:
    async with open_pool("docker", 1, answer_grace_s=1) as pool:
        stop, killed = asyncio.Event(), set()

        async def kill_every_container() -> None:
            while not stop.is_set():
                for name in set(pool.worker_names()) - killed:
                    killed.add(name)
                    await docker("kill", name)
                await asyncio.sleep(0.05)

        killer = asyncio.create_task(kill_every_container())
        response = "```python\nimport time\ntime.sleep(1)\nprint(input())\n```"
        verdict = await CodeVerifier(pool, limits=QUICK).verify(
            response, [{"input": "1\n", "output": "2\n"}]
        )
        assert verdict.status == "infra_error", verdict
        assert "lost the job twice" in verdict.detail
        stop.set()
        await killer
        await healed(pool, killed)
        after = await pool.run(SLOW_ECHO, "healed\n", QUICK)
        assert (after.status, after.stdout) == ("ok", "healed\n")


@pytest.mark.slow
async def test_with_no_runner_able_to_start_jobs_fail_then_the_pool_heals() -> None:
    image = f"thoughtmill-sandbox:doomed-{os.getpid()}"
    await docker("tag", DEFAULT_IMAGE, image)
    try:
        async with open_pool("docker", 1, image=image, answer_grace_s=1) as pool:
            [lost] = pool.worker_names()
            await docker("rmi", image)  # replacements cannot start any more
            await docker("kill", lost)
            result = await pool.run(Program("python", "print('no')"), limits=QUICK)
            assert result.status == "infra_error", result
            assert "no sandbox runner can be started" in result.detail
            await docker("tag", DEFAULT_IMAGE, image)
            await healed(pool, {lost})
            result = await pool.run(Program("python", "print('back')"), limits=QUICK)
            assert (result.status, result.stdout) == ("ok", "back\n")
    finally:
        await docker("rmi", image)


async def test_auto_backend_is_docker_with_one_runner_per_core() -> None:
    async with open_pool() as pool:
        assert pool.backend.name == "docker"
        names = pool.worker_names()
        assert pool.size == os.cpu_count() == len(names)
    _, running = await docker("ps", "--all", "--format", "{{.Names}}")
    assert not set(names) & set(running.split()), "containers left after close"


async def test_local_backend_warns_loudly() -> None:
    with pytest.warns(RuntimeWarning, match="without a container"):
        async with open_pool("local", 1) as pool:
            result = await pool.run(Program("python", "print('local')"))
    assert result.stdout == "local\n"


def test_unknown_backend_and_unopened_pool_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown sandbox backend 'vm'"):
        asyncio.run(open_pool("vm").__aenter__())
    with pytest.raises(RuntimeError, match="not open: use `async with open_pool"):
        asyncio.run(open_pool("docker").run(Program("python", "print(1)")))


@pytest.mark.slow
def test_doctor_checks_every_limit() -> None:
    doctor = subprocess.run(
        [sys.executable, "-m", "sandbox", "doctor"], capture_output=True, text=True, cwd=REPO
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = doctor.stdout.splitlines()
    assert all(line.startswith("ok") for line in lines), doctor.stdout
    for limit in ("CPU time", "wall time", "memory", "process", "output", "file size"):
        assert any(f"{limit} limit" in line for line in lines), limit


def test_build_image_is_a_no_op_when_up_to_date() -> None:
    build = subprocess.run(
        [sys.executable, "-m", "sandbox", "build-image"], capture_output=True, text=True, cwd=REPO
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "up to date" in build.stdout
