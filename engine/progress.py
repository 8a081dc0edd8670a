"""Live progress of a job on stderr, drawn with rich: on a terminal, a bar and three lines that
fit its width and redraw in place; otherwise one plain line every ``plain_every_s``. The final
state is always printed when the job ends."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from engine.metrics import Metrics, Snapshot


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _count(value: float) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def _passes(s: Snapshot) -> str:
    if not s.pass_rate_by_domain:
        return "pass -"
    return "pass " + " ".join(
        f"{d} {100 * r:.0f}%" for d, r in sorted(s.pass_rate_by_domain.items())
    )


def _failures(s: Snapshot) -> str:
    if not s.failures:
        return "failures 0"
    parts = sorted(s.failures.items(), key=lambda kv: -kv[1])
    return "failures " + " ".join(f"{kind} {_count(n)}" for kind, n in parts)


def lines(s: Snapshot) -> tuple[str, str, str]:
    """The three lines of progress under the bar: counts and time, rates, outcomes."""
    total = s.questions_total
    done = f"{_count(s.questions_done)}/{_count(total)}" if total else _count(s.questions_done)
    percent = f" {100 * s.questions_done / total:.1f}%" if total else ""
    first = (
        f"{s.state} questions {done}{percent}  elapsed {_duration(s.elapsed_s)}  "
        f"eta {_duration(s.eta_s)}"
    )
    second = (
        f"req/s {_count(s.requests_per_s)}  samples/s {_count(s.samples_per_s)}  "
        f"tok/s in {_count(s.prompt_tokens_per_s)} out {_count(s.completion_tokens_per_s)}  "
        f"in-flight {s.in_flight}"
    )
    third = (
        f"retries {_count(s.retries)}  429s {_count(s.rate_limited)}  {_failures(s)}  "
        f"{_passes(s)}  cost ${s.cost_usd:.2f}"
    )
    return first, second, third


def plain_line(s: Snapshot) -> str:
    """One line for logs (stderr not a terminal)."""
    return "  ".join(lines(s))


class _View:
    """The rich renderable: rebuilt from a fresh snapshot at every refresh."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def __rich__(self) -> Table:
        s = self.metrics.snapshot()
        grid = Table.grid(expand=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(ProgressBar(total=s.questions_total or None, completed=s.questions_done))
        for line in lines(s):
            grid.add_row(Text(line, no_wrap=True, overflow="ellipsis"))
        return grid


class Progress:
    """``async with Progress(metrics):`` shows live progress while the job runs."""

    def __init__(self, metrics: Metrics, stream: TextIO | None = None, plain_every_s: float = 10.0):
        self.metrics = metrics
        self.stream = stream or sys.stderr
        self.plain_every_s = plain_every_s
        self.console = Console(file=self.stream)
        self._live: Live | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Progress:
        if self.console.is_terminal:
            self._live = Live(
                _View(self.metrics), console=self.console, refresh_per_second=2, transient=False
            )
            self._live.start()
        else:
            self._task = asyncio.ensure_future(self._plain())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.refresh()  # the final state, drawn once more before the bar stays
            self._live.stop()
        if self._task is not None:
            self._task.cancel()
            print(plain_line(self.metrics.snapshot()), file=self.stream, flush=True)

    async def _plain(self) -> None:
        while True:
            await asyncio.sleep(self.plain_every_s)
            print(plain_line(self.metrics.snapshot()), file=self.stream, flush=True)
