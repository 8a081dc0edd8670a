"""CPU seconds of a process tree (this process and its descendants, grandchildren included).

A machine shared with other work stretches wall-clock figures; CPU seconds per sample are
disturbed much less. ``getrusage(RUSAGE_CHILDREN)`` misses processes nobody waits for (the math
pool's workers are forked by a template that is killed at close), so this samples /proc
instead: every descendant's utime+stime, last seen, minus what it had used when sampling began.
A process that dies between two samples loses at most one ``interval`` of its CPU.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
Times = dict[tuple[int, int], float]  # (pid, start time) -> CPU seconds


def _stats() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, start time, CPU seconds) of every process visible in /proc."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        # fields[0] is field 3 of proc(5): ppid is 4, utime 14, stime 15, starttime 22.
        seconds = (int(fields[11]) + int(fields[12])) / TICK
        stats[int(entry.name)] = (int(fields[1]), int(fields[19]), seconds)
    return stats


def tree_times(root: int, exclude: frozenset[int] = frozenset()) -> Times:
    """CPU seconds of ``root`` and its descendants, minus the subtrees of ``exclude``."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    times, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in exclude or pid not in stats:
            continue
        _, start, seconds = stats[pid]
        times[(pid, start)] = seconds
        todo += children.get(pid, [])
    return times


class TreeCPU:
    """``with TreeCPU(exclude={mock.pid}) as cpu: ...`` then ``cpu.seconds``: the CPU this
    process and its descendants (but not ``exclude``'s subtrees) used inside the block."""

    def __init__(self, exclude: set[int] | frozenset[int] = frozenset(), interval: float = 0.2):
        self.exclude = frozenset(exclude)
        self.interval = interval
        self.seconds = 0.0
        self._base: Times = {}
        self._last: Times = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self._last |= tree_times(os.getpid(), self.exclude)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> TreeCPU:
        self._base = tree_times(os.getpid(), self.exclude)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = sum(t - self._base.get(key, 0.0) for key, t in self._last.items())
