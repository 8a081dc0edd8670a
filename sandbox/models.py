"""Types at the sandbox boundary: what to run, under which limits, and what happened."""

from __future__ import annotations

from typing import Literal

import msgspec

RunStatus = Literal[
    "ok",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "compile_error",
    "infra_error",
]

MiB = 1024 * 1024


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Resource limits of one execution (all enforced inside the sandbox, per job).

    time_s: CPU seconds; wall_s: elapsed seconds (default ``2 * time_s + 1``);
    memory_mb: address space; output_bytes: stdout (and any one file) size;
    processes: processes and threads of the job's uid; compile_s: wall time of a compilation.
    """

    time_s: float = 2.0
    wall_s: float | None = None
    memory_mb: int = 512
    output_bytes: int = 16 * MiB
    stderr_bytes: int = 8192
    processes: int = 64
    compile_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("time_s", "memory_mb", "output_bytes", "processes", "compile_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.wall_s is not None and self.wall_s <= 0:
            raise ValueError(f"Limits.wall_s must be positive, got {self.wall_s!r}")

    @property
    def wall(self) -> float:
        return self.wall_s if self.wall_s is not None else 2 * self.time_s + 1


class Program(msgspec.Struct, frozen=True):
    """Source code in one of the sandbox's languages (see ``sandbox.languages``)."""

    language: str
    source: str


class RunResult(msgspec.Struct, kw_only=True):
    """Outcome of one execution (or of a compilation, with status ``compile_error`` on failure).

    stdout is capped at ``Limits.output_bytes`` and stderr keeps its last ``Limits.stderr_bytes``;
    memory_kb is the peak resident set; worker names the container or process that ran it.
    """

    status: RunStatus
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    memory_kb: int = 0
    worker: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class BatchResult(msgspec.Struct, kw_only=True):
    """A program compiled once (for Python: syntax-checked) and run on many inputs in order,
    possibly stopped early; ``runs`` is empty when ``compile`` failed."""

    compile: RunResult
    runs: list[RunResult]


class BackendChoice(msgspec.Struct, frozen=True):
    """Which backend an open pool runs on, and why (``open_pool("auto")`` decides on opening).

    requested: what the caller asked for (``auto``, ``docker``, ``local``, or a backend
    object's name); backend: the backend's name; isolated: programs run in containers, cut off
    from this machine's files and network (False for ``local``); reason: why this backend.
    """

    requested: str
    backend: str
    isolated: bool
    reason: str
