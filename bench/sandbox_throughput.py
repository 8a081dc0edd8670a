"""Sandbox throughput: executions per second of a small Python and a small C++ program through
the warm Docker pool, against ``docker run --rm`` and ``docker exec`` per execution, and the
local backend, all measured in this run with the same concurrency (the pool size).

    python bench/sandbox_throughput.py [--size N] [--quick]

Prints a table, then one JSON line with the figures and the ratios against the baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import sys
import uuid
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Program, open_pool  # noqa: E402
from sandbox.docker import DEFAULT_IMAGE, docker  # noqa: E402

PYTHON = "a, b = map(int, input().split())\nprint(a + b)"
CPP = "#include <cstdio>\nint main() { long a, b; scanf(\"%ld %ld\", &a, &b); printf(\"%ld\\n\", a + b); }"
STDIN = "20 22\n"
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
            "python": await rate(count, 4 * size, lambda _: _stdout(pool.run(python, STDIN))),
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
            compiles, 2 * size, lambda i: _stdout(pool.run(fresh_cpp(i), STDIN))
        )
    return rates


async def _stdout(result_awaitable) -> str:
    result = await result_awaitable
    return result.stdout


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
    count, baseline_count, compiles = (120, 8, 4) if args.quick else (600, 24, 8)

    figures = {f"pool {k}": v for k, v in (await pool_rates("docker", args.size, count, compiles)).items()}
    figures["docker exec per execution, python"] = await docker_exec_rate(baseline_count * 2, args.size)
    figures["docker run per execution, python"] = await rate(baseline_count, args.size, docker_run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        local = await pool_rates("local", args.size, count, compiles)
    figures.update({f"local {k}": v for k, v in local.items()})

    run_rate = figures["docker run per execution, python"]
    exec_rate = figures["docker exec per execution, python"]
    print(f"{'executions per second (pool size ' + str(args.size) + ')':<46} {'exec/s':>9} {'x docker run':>13} {'x docker exec':>14}")
    for name, value in figures.items():
        print(f"{name:<46} {value:>9.1f} {value / run_rate:>13.1f} {value / exec_rate:>14.1f}")
    summary = {
        "pool_size": args.size,
        "executions_per_s": {name: round(value, 1) for name, value in figures.items()},
        "python_vs_docker_run": round(figures["pool python"] / run_rate, 1),
        "python_vs_docker_exec": round(figures["pool python"] / exec_rate, 1),
        "python_batch_vs_docker_run": round(figures["pool python, one program many inputs"] / run_rate, 1),
        "target_python_100_per_s": figures["pool python"] >= 100,
        "target_20x_docker_run": figures["pool python"] / run_rate >= 20,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
