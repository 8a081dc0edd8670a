"""The top-N barrier across the partitions of a job (issue 16).

Each partition curates its own share; when its curation is complete it says so with a marker
file, ``NAME_barrier-HASH/curated-I`` (written whole: temp file, fsync, rename). The selection
waits for all N markers, is computed once, by whoever takes ``NAME_barrier-HASH/lock`` first
(the others find it saved when they get the lock), and is read by every partition's sampling.
A restart finds its marker and the saved selection and recomputes neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from engine.storage import shards
from engine.storage.lock import exclusive

POLL_S = 0.2  # how often a waiting partition looks for the others' markers


def barrier_path(directory: Path, name: str, curation_hash: str) -> Path:
    return directory / f"{name}_barrier-{curation_hash}"


class Barrier:
    """The markers and lock of one barrier (``directory``) among ``partitions``."""

    def __init__(self, directory: Path, partitions: int):
        self.directory = directory
        self.partitions = partitions

    def _marker(self, index: int) -> Path:
        return self.directory / f"curated-{index}"

    def curated(self, index: int) -> bool:
        return self._marker(index).exists()

    def mark_curated(self, index: int) -> None:
        """Partition ``index`` has scored (or excluded) every question of its share."""
        self.directory.mkdir(parents=True, exist_ok=True)
        marker = self._marker(index)
        tmp = marker.with_name(marker.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(f"{index}/{self.partitions}\n".encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, marker)
        shards.fsync_dir(self.directory)

    def waiting_for(self) -> list[int]:
        """The partitions whose curation is not complete yet."""
        return [i for i in range(self.partitions) if not self.curated(i)]

    async def wait(self, waiting: Callable[[list[int]], None], stopped: Callable[[], bool]) -> bool:
        """Until every partition is curated (True) or ``stopped()`` (False); ``waiting`` is told
        which partitions are still missing whenever that changes."""
        shown: list[int] | None = None
        while missing := self.waiting_for():
            if stopped():
                return False
            if missing != shown:
                waiting(shown := missing)
            await asyncio.sleep(POLL_S)
        return True

    @contextlib.asynccontextmanager
    async def selecting(self) -> AsyncIterator[None]:
        """Hold the barrier's lock: one partition computes the selection, the rest wait."""
        self.directory.mkdir(parents=True, exist_ok=True)
        held = exclusive(self.directory / "lock")
        await asyncio.to_thread(held.__enter__)
        try:
            yield
        finally:
            held.__exit__(None, None, None)


def barrier_states(directory: Path) -> dict[str, list[int]]:
    """For ``status``: each barrier of the output and the partitions it still waits for."""
    found = {}
    for path in sorted(directory.glob("*_barrier-*")):
        markers = sorted(path.glob("curated-*[0-9]"))
        if markers:
            partitions = int(markers[0].read_text().split("/")[1])
            found[path.name] = Barrier(path, partitions).waiting_for()
    return found
