"""Sandbox throughput: executions per second of a small Python and a small C++ program through
the warm Docker pool, against ``docker run --rm`` and ``docker exec`` per execution, and the
local backend, all measured in this run with the same concurrency (the pool size); and the cost
of a timed-out test (a busy loop under a 0.2 s CPU limit) on the pool against ``docker run``
with the finest CPU limit Docker has (``--ulimit cpu=1``: RLIMIT_CPU counts whole seconds).

    python bench/sandbox_throughput.py [--size N] [--quick]

Prints a table, then one JSON line with the figures and the ratios against the baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Limits, Program, RunResult, open_pool
from sandbox.docker import DEFAULT_IMAGE, docker

PYTHON = "a, b = map(int, input().split())\nprint(a + b)"
CPP = """#include <cstdio>
int main() { long a, b; scanf("%ld %ld", &a, &b); printf("%ld\\n", a + b); }"""
STDIN = "20 22\n"
SPIN = "while True:\n    pass"
SPIN_LIMIT_S = 0.2
LOCKED_DOWN = ["--network", "none", "--read-only", "--cap-drop", "ALL", "--user", "65534:65534"]


async def rate(count: int, concurrency: int, execute: Callable[[int], Awaitable[str]]) -> float:
    """Executions per second of ``count`` calls, ``concurrency`` at a time; each must say 42."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            output = await execute(index)
        if output.strip() != "42":
            raise RuntimeError(f"execution {index} printed {output!r}")

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return count / (time.perf_counter() - started)


async def pool_rates(backend: str, size: int, count: int, compiles: int) -> dict[str, float]:
    python, cpp = Program("python", PYTHON), Program("cpp", CPP)
    async with open_pool(backend, size) as pool:
        await pool.run(python, STDIN)  # warm up every runner
        rates = {
            "python": await rate(count, 4 * size, lambda _: stdout_of(pool.run(python, STDIN)))
        }

        async def batched(program: Program) -> float:
            per_runner = count // size
            started = time.perf_counter()
            batches = await asyncio.gather(
                *(pool.run_batch(program, [STDIN] * per_runner) for _ in range(size))
            )
            elapsed = time.perf_counter() - started
            assert all(run.stdout == "42\n" for batch in batches for run in batch.runs)
            return size * per_runner / elapsed

        rates["python, one program many inputs"] = await batched(python)
        rates["cpp, compile excluded"] = await batched(cpp)

        def fresh_cpp(index: int) -> Program:  # a distinct program each time: no cache helps
            return Program("cpp", CPP + f"\n// {index} {uuid.uuid4()}\n")

        rates["cpp, compile included"] = await rate(
            compiles, 2 * size, lambda i: stdout_of(pool.run(fresh_cpp(i), STDIN))
        )
    return rates


async def timeout_costs(size: int, count: int) -> dict[str, float]:
    """Seconds a runner is busy per timed-out test (wall of one test, ``size`` at a time), and
    the CPU time the busy loop got before it was stopped."""
    spin, limits = Program("python", SPIN), Limits(time_s=SPIN_LIMIT_S, wall_s=30)
    async with open_pool("docker", size) as pool:
        await pool.run(Program("python", PYTHON), STDIN)
        started = time.perf_counter()
        results = await asyncio.gather(*(pool.run(spin, limits=limits) for _ in range(count)))
        elapsed = time.perf_counter() - started
    if any(result.status != "timeout" for result in results):
        raise RuntimeError(f"a busy loop was not stopped: {results[0]}")
    return {
        "pool s per timed-out test": size * elapsed / count,
        "pool wall s of the loop (median)": statistics.median(r.wall_s for r in results),
        "pool CPU s given to the loop (median)": statistics.median(r.cpu_s for r in results),
    }


async def docker_run_timeout(count: int, concurrency: int) -> float:
    """Seconds per timed-out test with ``docker run --init --ulimit cpu=1`` (the kernel's
    SIGXCPU at 1 s; without ``--init`` the loop is PID 1, which ignores it until SIGKILL at 2 s)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(_: int) -> None:
        async with gate:
            code, output = await docker(
                "run", "--rm", "-i", "--init", "--ulimit", "cpu=1:2", *LOCKED_DOWN, DEFAULT_IMAGE,
                "python3", "-c", SPIN,
            )  # fmt: skip
        if code != 128 + 24:  # SIGXCPU
            raise RuntimeError(f"docker run of a busy loop ended with {code}: {output}")

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(count)))
    return concurrency * (time.perf_counter() - started) / count


async def stdout_of(running: Awaitable[RunResult]) -> str:
    return (await running).stdout


async def docker_run(_: int) -> str:
    code, output = await docker(
        "run", "--rm", "-i", *LOCKED_DOWN, DEFAULT_IMAGE, "python3", "-c", PYTHON,
        stdin=STDIN.encode(),
    )  # fmt: skip
    return output if code == 0 else f"docker run failed: {output}"


async def docker_exec_rate(count: int, concurrency: int) -> float:
    name = f"thoughtmill-bench-{uuid.uuid4().hex[:8]}"
    code, output = await docker(
        "run", "-d", "--rm", "--name", name, *LOCKED_DOWN, DEFAULT_IMAGE,
        "python3", "-c", "import time; time.sleep(1e9)",
    )  # fmt: skip
    if code != 0:
        raise RuntimeError(output)
    try:

        async def execute(_: int) -> str:
            _, out = await docker("exec", "-i", name, "python3", "-c", PYTHON, stdin=STDIN.encode())
            return out

        return await rate(count, concurrency, execute)
    finally:
        await docker("rm", "--force", name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=os.cpu_count(), help="pool size")
    parser.add_argument("--quick", action="store_true", help="fewer executions")
    args = parser.parse_args()
    size = args.size
    count, baseline_count, compiles = (120, 8, 4) if args.quick else (600, 24, 8)
    spins = (4 if args.quick else 10) * size

    pool = await pool_rates("docker", size, count, compiles)
    figures = {f"pool {name}": value for name, value in pool.items()}
    figures["docker exec per execution, python"] = await docker_exec_rate(2 * baseline_count, size)
    figures["docker run per execution, python"] = await rate(baseline_count, size, docker_run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the local backend's loud warning
        local = await pool_rates("local", size, count, compiles)
    figures.update({f"local {name}": value for name, value in local.items()})

    costs = await timeout_costs(size, spins)
    costs["docker run --ulimit cpu=1 s per timed-out test"] = await docker_run_timeout(
        max(2, spins // 4), size
    )

    run_rate = figures["docker run per execution, python"]
    exec_rate = figures["docker exec per execution, python"]
    title = f"executions per second, {size} at a time"
    print(f"{title:<46} {'exec/s':>9} {'x docker run':>13} {'x docker exec':>14}")
    for name, value in figures.items():
        print(f"{name:<46} {value:>9.1f} {value / run_rate:>13.1f} {value / exec_rate:>14.1f}")
    print(f"\ntimed-out test, {SPIN_LIMIT_S:g} s CPU limit, {size} at a time {'seconds':>14}")
    for name, value in costs.items():
        print(f"{name:<60} {value:>9.3f}")
    python, batch = figures["pool python"], figures["pool python, one program many inputs"]
    pool_timeout = costs["pool s per timed-out test"]
    run_timeout = costs["docker run --ulimit cpu=1 s per timed-out test"]
    summary = {
        "pool_size": size,
        "executions_per_s": {name: round(value, 1) for name, value in figures.items()},
        "python_vs_docker_run": round(python / run_rate, 1),
        "python_vs_docker_exec": round(python / exec_rate, 1),
        "python_batch_vs_docker_run": round(batch / run_rate, 1),
        "target_python_100_per_s": python >= 100,
        "target_20x_docker_run": python / run_rate >= 20,
        "timed_out_test_s": {name: round(value, 3) for name, value in costs.items()},
        "timed_out_test_vs_docker_run": round(run_timeout / pool_timeout, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
