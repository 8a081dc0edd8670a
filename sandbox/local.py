"""Local backend: the same runner as a plain process on this machine (weaker isolation)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import signal
import sys
import tempfile
import warnings

from sandbox.worker import RUNNER_SOURCE, Worker, job_uids

log = logging.getLogger(__name__)

#: run as a job uid: SIGKILL every process of that uid (kill -1 spares only the caller)
KILL_ALL = ("/bin/sh", "-c", "kill -KILL -1 2>/dev/null; true")

WEAKER = (
    "sandbox backend 'local': programs run as plain processes on this machine, without a "
    "container, so they can read its files and reach its network{uid}; use the Docker "
    "backend for untrusted code"
)


class LocalBackend:
    """Runs jobs as a throwaway uid when started as root, else as the current user."""

    name = "local"
    isolated = False
    start_timeout_s = 15.0

    def __init__(self, drop_privileges: bool | None = None) -> None:
        self.drop_privileges = os.geteuid() == 0 if drop_privileges is None else drop_privileges
        if self.drop_privileges and os.geteuid() != 0:
            raise ValueError("LocalBackend(drop_privileges=True) needs root")
        self._uids = job_uids()
        self._numbers = itertools.count()
        self._roots: dict[str, str] = {}
        self._uids_of: dict[str, int | None] = {}

    async def prepare(self) -> None:
        uid = "" if self.drop_privileges else ", and run as your own user"
        message = WEAKER.format(uid=uid)
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)

    async def start_worker(self) -> Worker:
        name = f"local-{os.getpid()}-{next(self._numbers)}"
        root = tempfile.mkdtemp(prefix=f"thoughtmill-{name}-")
        os.chmod(root, 0o755)
        self._roots[name] = root
        config = {
            "work_root": root,
            "uid": next(self._uids) if self.drop_privileges else None,
            "python": sys.executable,
        }
        argv = [sys.executable, "-I", "-c", RUNNER_SOURCE, "runner"]
        try:
            worker = await Worker.start(name, argv, config, self.start_timeout_s, new_session=True)
        except BaseException:
            shutil.rmtree(self._roots.pop(name), ignore_errors=True)
            raise
        self._uids_of[name] = config["uid"]
        return worker

    async def stop_worker(self, worker: Worker) -> None:
        """End the runner, its zygote and sweeper (one process group) and every process of its
        job uid (jobs start sessions of their own), then delete its folder."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        uid = self._uids_of.pop(worker.name, None)
        if uid is not None:
            killer = await asyncio.create_subprocess_exec(
                *KILL_ALL, user=uid, group=uid, extra_groups=[]
            )
            await killer.wait()
        await worker.stop()
        shutil.rmtree(self._roots.pop(worker.name, ""), ignore_errors=True)
