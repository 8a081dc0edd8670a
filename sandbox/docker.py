"""Docker backend: long-lived locked-down containers, each running our runner as PID 1."""

from __future__ import annotations

import asyncio
import os
import uuid

from sandbox.worker import RUNNER_SOURCE, Worker, job_uids

DEFAULT_IMAGE = os.environ.get("THOUGHTMILL_SANDBOX_IMAGE", "thoughtmill-sandbox:latest")
LABEL = "thoughtmill.sandbox"
OWNER_LABEL = "thoughtmill.sandbox.owner"


async def docker(*args: str, timeout: float = 60.0, stdin: bytes | None = None) -> tuple[int, str]:
    """Run the docker CLI; returns (exit code, stdout + stderr). A missing CLI or a hang is 127."""
    try:
        process = await asyncio.create_subprocess_exec(
            "docker",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except FileNotFoundError:
        return 127, "the docker CLI is not installed"
    try:
        output, _ = await asyncio.wait_for(process.communicate(stdin), timeout)
    except (asyncio.TimeoutError, TimeoutError):
        process.kill()
        await process.wait()
        return 127, f"docker {' '.join(args[:2])} did not finish within {timeout:g} s"
    return process.returncode, output.decode(errors="replace").strip()


async def engine_version() -> str | None:
    """The Docker engine's version if one answers, else None."""
    code, output = await docker("info", "--format", "{{.ServerVersion}}", timeout=15)
    return output if code == 0 and output else None


async def image_present(image: str) -> bool:
    code, _ = await docker("image", "inspect", "--format", "{{.Id}}", image, timeout=15)
    return code == 0


def container_argv(name: str, image: str, memory_mb: int, tmpfs_mb: int) -> list[str]:
    """``docker run`` for one sandbox container: no network, nothing writable but its tmpfs,
    no capabilities but the two the runner needs to become the job uid, bounded pids/memory."""
    return [
        "docker", "run", "--interactive", "--rm", "--name", name,
        "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={os.getpid()}",
        "--network", "none",
        "--read-only",
        "--tmpfs", f"/tmp:rw,exec,nosuid,nodev,size={tmpfs_mb}m,mode=755",
        "--cap-drop", "ALL", "--cap-add", "SETUID", "--cap-add", "SETGID",
        "--security-opt", "no-new-privileges",
        "--pids-limit", "256",
        "--memory", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m",
        "--ipc", "private",
        "--log-driver", "none",
        "--hostname", "sandbox",
        "--user", "0:0",
        "--workdir", "/tmp",
        image,
        "python3", "-I", "-c", RUNNER_SOURCE, "runner",
    ]  # fmt: skip


class DockerBackend:
    """Starts and removes sandbox containers for a pool."""

    name = "docker"
    isolated = True
    start_timeout_s = 60.0

    def __init__(self, image: str = DEFAULT_IMAGE, memory_mb: int = 2048, tmpfs_mb: int = 256):
        self.image = image
        self.memory_mb = memory_mb
        self.tmpfs_mb = tmpfs_mb
        self._uids = job_uids()

    async def prepare(self) -> None:
        """Fail early and clearly without an engine or image; remove containers of dead pools."""
        if await engine_version() is None:
            raise RuntimeError("no Docker engine answers `docker info` (see .ci/docker.sh)")
        if not await image_present(self.image):
            raise RuntimeError(
                f"sandbox image {self.image} is missing: run `python -m sandbox build-image`"
            )
        await remove_orphans()

    async def start_worker(self) -> Worker:
        name = f"thoughtmill-sbx-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        argv = container_argv(name, self.image, self.memory_mb, self.tmpfs_mb)
        config = {"work_root": "/tmp", "uid": next(self._uids), "python": "python3"}
        try:
            return await Worker.start(name, argv, config, self.start_timeout_s)
        except BaseException:
            await docker("rm", "--force", name, timeout=30)
            raise

    async def stop_worker(self, worker: Worker) -> None:
        await docker("rm", "--force", worker.name, timeout=30)
        await worker.stop()


async def remove_orphans() -> None:
    """Remove sandbox containers whose owning process has exited (left by a crash)."""
    code, output = await docker(
        "ps", "--all", "--filter", f"label={LABEL}",
        "--format", f'{{{{.Names}}}} {{{{.Label "{OWNER_LABEL}"}}}}',
    )  # fmt: skip
    if code != 0:
        return
    orphans = []
    for line in output.splitlines():
        name, _, owner = line.partition(" ")
        if not owner.isdigit() or not process_exists(int(owner)):
            orphans.append(name)
    if orphans:
        await docker("rm", "--force", *orphans, timeout=60)


def process_exists(pid: int) -> bool:
    """Whether a process with this pid is alive (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
