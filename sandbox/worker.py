"""Host side of one runner process (a container, or a local process): start it, call it, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

from sandbox.runner import FRAME_HEADER, decode_frame, encode_frame

RUNNER_SOURCE = (Path(__file__).parent / "runner.py").read_text()
ZYGOTE_SOURCE = (Path(__file__).parent / "zygote.py").read_text()
STDERR_KEPT = 4096
# Jobs run as a uid drawn from this range, a new one per worker, so that per-uid limits
# (processes) and the sweeper's kill(-1) never reach another worker's jobs.
JOB_UIDS = range(20000, 60000)


def job_uids() -> Iterator[int]:
    """Distinct job uids in random order (two pools in one machine rarely meet)."""
    return iter(random.SystemRandom().sample(JOB_UIDS, len(JOB_UIDS)))


class WorkerLost(Exception):
    """The runner died, hung or gave up; the job it had is lost (never a wrong answer)."""


class Worker:
    """A started runner and the framed pipe to it; one call at a time."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.alive = True
        self.tainted = False
        self._stderr = bytearray()
        self._drain = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(
        cls, name: str, argv: Sequence[str], config: dict, timeout: float, new_session=False
    ) -> Worker:
        """Spawn ``argv`` (which must run the runner), send it ``config`` and wait until ready;
        ``new_session`` puts the runner and its helpers in a process group of their own."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=new_session,
        )
        worker = cls(name, process)
        try:
            await worker.call(dict(config, zygote=ZYGOTE_SOURCE), (), timeout)
        except BaseException:  # lost, or cancelled while starting
            await worker.stop()
            raise
        return worker

    async def call(
        self, header: dict, blobs: Sequence[bytes], timeout: float
    ) -> tuple[dict, list[bytes]]:
        """Send one frame and return the answer; a dead or silent runner raises WorkerLost."""
        [answer] = await self.call_many([(header, blobs)], timeout)
        return answer

    async def call_many(
        self, frames: Sequence[tuple[dict, Sequence[bytes]]], timeout: float
    ) -> list[tuple[dict, list[bytes]]]:
        """Send frames back to back (the runner answers them in order) and return the answers,
        all within ``timeout``; saves a round trip per extra frame."""
        if not self.alive:
            raise WorkerLost(f"{self.name} is gone")
        try:
            for header, blobs in frames:
                self.process.stdin.write(encode_frame(header, list(blobs)))
            answers = await asyncio.wait_for(self._read_frames(len(frames)), timeout)
        except (asyncio.TimeoutError, TimeoutError) as error:
            self.alive = False
            raise WorkerLost(f"{self.name} did not answer within {timeout:g} s") from error
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as error:
            self.alive = False
            await asyncio.sleep(0.05)  # let the last words reach stderr
            raise WorkerLost(f"{self.name} exited: {self.last_words()}") from error
        except asyncio.CancelledError:
            self.alive = False  # an answer may be half read: this pipe is out of step
            raise
        for header, _ in answers:
            if "error" in header:
                self.alive = False
                raise WorkerLost(f"{self.name} failed: {header['error']}")
            self.tainted = self.tainted or bool(header.get("tainted"))
        return answers

    async def _read_frames(self, count: int) -> list[tuple[dict, list[bytes]]]:
        await self.process.stdin.drain()
        return [await self._read_frame() for _ in range(count)]

    async def _read_frame(self) -> tuple[dict, list[bytes]]:
        stdout = self.process.stdout
        head_size, payload_size = FRAME_HEADER.unpack(await stdout.readexactly(FRAME_HEADER.size))
        head = await stdout.readexactly(head_size)
        return decode_frame(head, await stdout.readexactly(payload_size))

    async def _drain_stderr(self) -> None:
        while chunk := await self.process.stderr.read(STDERR_KEPT):
            self._stderr += chunk
            del self._stderr[:-STDERR_KEPT]

    def last_words(self) -> str:
        return self._stderr.decode(errors="replace").strip() or "(nothing on stderr)"

    async def stop(self) -> None:
        """End the process (the backend removes a container separately)."""
        self.alive = False
        self.process.stdin.close()
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()
        await self._drain  # stderr ends with the process
