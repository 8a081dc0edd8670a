"""``python -m sandbox doctor``: is Docker reachable, is the image there, and does every limit
actually hold? Each limit is checked by running a program that breaks it."""

from __future__ import annotations

import asyncio
import textwrap

import msgspec

from sandbox.docker import engine_version, image_present
from sandbox.models import Limits, Program, RunResult, RunStatus
from sandbox.pool import Pool, open_pool

LIMITS = Limits(time_s=1, wall_s=2, memory_mb=128, output_bytes=1 << 20, processes=16)


class Probe(msgspec.Struct, frozen=True):
    """A program, the status it must end with, and text its output and the result's detail
    must contain."""

    name: str
    language: str
    source: str
    status: RunStatus
    output: str = ""
    reason: str = ""
    limits: Limits = LIMITS

    def passes(self, result: RunResult) -> bool:
        return (
            result.status == self.status
            and self.output in result.stdout
            and self.reason in result.detail
        )


PROBES = [
    Probe("runs Python 3", "python", "print(6 * 7)", "ok", "42"),
    Probe(
        "runs C++17",
        "cpp",
        "#include <cstdio>\n#include <utility>\n"
        'int main() { auto [a, b] = std::pair{6, 7}; std::printf("%d", a * b); }',
        "ok",
        "42",
    ),
    Probe(
        "precompiled <bits/stdc++.h>",
        "python",
        """
        import subprocess
        open("x.cpp", "w").write("#include <bits/stdc++.h>\\nint main() {}")
        flags = ["-std=c++17", "-O2", "-H", "-fsyntax-only", "x.cpp"]
        used = subprocess.run(["g++", *flags], capture_output=True, text=True).stderr
        print([line for line in used.splitlines() if line.startswith("!")])
        """,
        "ok",
        "stdc++.h.gch'",
        limits=Limits(time_s=20, wall_s=30, memory_mb=1024),
    ),
    Probe(
        "jobs run unprivileged",
        "python",
        "import os\nstatus = open('/proc/self/status').read()\n"
        "print(os.getuid() != 0, 'CapEff:\\t0000000000000000' in status)",
        "ok",
        "True True",
    ),
    Probe(
        "no network",
        "python",
        """
        import os, socket
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        except OSError:
            print("blocked", os.listdir("/sys/class/net"))
        """,
        "ok",
        "blocked ['lo']",
    ),
    Probe(
        "read-only root",
        "python",
        """
        try:
            open("/usr/x", "w")
        except OSError:
            print("blocked")
        """,
        "ok",
        "blocked",
    ),
    Probe(
        "CPU time limit",
        "python",
        "while True:\n    pass",
        "timeout",
        reason="CPU",
        limits=Limits(time_s=1, wall_s=30),  # the CPU limit, not the wall clock, must stop it
    ),
    Probe("wall time limit", "python", "import time\ntime.sleep(60)", "timeout", reason="wall"),
    Probe("memory limit", "python", "x = bytearray(1 << 30)", "memory_limit"),
    Probe(
        "process limit",
        "python",
        """
        import os, time
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
        except OSError:
            print("stopped")
        """,
        "ok",
        "stopped",
    ),
    Probe("output limit", "python", "while True:\n    print('x' * 1000)", "output_limit"),
    Probe(
        "file size limit",
        "python",
        """
        try:
            open("big", "wb").write(bytes(4 << 20))
        except OSError:
            print("stopped")
        """,
        "ok",
        "stopped",
    ),
]


async def doctor(image: str) -> int:
    """Print one line per check; exit status 0 when all pass."""
    version = await engine_version()
    checks = [("Docker engine answers", version is not None, version or "run .ci/docker.sh")]
    if version is not None:
        present = await image_present(image)
        checks.append(("image present", present, image if present else "run build-image"))
        if present:
            checks += await _probe_limits(image)
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'}  {name:<28} {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


async def _probe_limits(image: str) -> list[tuple[str, bool, str]]:
    async def check(pool: Pool, probe: Probe) -> tuple[str, bool, str]:
        program = Program(probe.language, textwrap.dedent(probe.source))
        result = await pool.run(program, limits=probe.limits)
        said = result.detail or result.stdout.strip() or result.stderr.strip()
        detail = f"{result.status}: {said.splitlines()[0][:60] if said else ''}"
        return probe.name, probe.passes(result), detail

    async with open_pool("docker", 2, image=image) as pool:
        return list(await asyncio.gather(*(check(pool, probe) for probe in PROBES)))
