"""End-to-end engine throughput against the mock teacher on loopback, next to a bare client floor.

For each latency (0 ms, 100 ms): the floor is a minimal aiohttp+uvloop client that posts the same
request body with the same number in flight and discards the answers; the engine runs a full job
(read JSONL -> prompt -> generate -> math verify -> zstd shards). A second, stricter floor posts
and discards through the engine's own HTTP client (engine.backends.http1), so "engine / own
floor" is what the pipeline, verification and shards cost on top of the transport. All talk to
the same mock teacher subprocess, in the same run; each latency runs ``--repeats`` rounds of all
four back to back, and the table shows medians (the JSON line also the range of each ratio). At
100 ms a run starts with all 256 requests in one burst that takes many round trips to spread
out, so short runs understate the steady state (2,000 questions: ~0.76 of ideal for the floors
and the engine alike). Then peak RSS of whole jobs streaming 100k and 1M questions.

    python bench/engine_throughput.py [--questions 20000] [--repeats 3] [--rss-sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backends.http1 import HTTPClient  # noqa: E402
from engine.config import parse_recipe  # noqa: E402
from engine.job import Job  # noqa: E402

IN_FLIGHT = 256


def write_questions(path: Path, count: int) -> None:
    with path.open("w") as f:
        for i in range(count):
            f.write(json.dumps({"problem": f"Compute {i} + {i + 1}.", "answer": str(2 * i + 1)}))
            f.write("\n")


def start_mock(latency_ms: float, answer_key: Path | None) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "engine", "mock-teacher", "--port", "0"]
    args += ["--latency-ms", str(latency_ms), "--completion-tokens", "60"]
    if answer_key:
        args += ["--answer-key", str(answer_key)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    return process, line[line.index("http://") :].strip()


BODY = json.dumps(
    {
        "model": "mock",
        "messages": [{"role": "user", "content": "Compute 1 + 2."}],
        "max_tokens": 512,
        "n": 1,
        "seed": 1,
    }
).encode()


async def post_and_discard(post: Callable[[], Awaitable[object]], requests: int) -> float:
    """Requests/s of IN_FLIGHT workers that only call ``post`` until ``requests`` are done."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await post()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return requests / (time.perf_counter() - started)


async def aiohttp_floor(url: str, requests: int) -> float:
    """The issue's floor: a bare aiohttp+uvloop client."""
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post() -> None:
            async with session.post(url + "/chat/completions", data=BODY) as response:
                await response.read()

        return await post_and_discard(post, requests)


async def own_floor(url: str, requests: int) -> float:
    """The engine's own HTTP client, bare."""
    client = HTTPClient(url, {"Content-Type": "application/json"})
    try:
        return await post_and_discard(lambda: client.post("/v1/chat/completions", BODY), requests)
    finally:
        await client.close()


def recipe_text(url: str, questions: Path, out: Path, n: int) -> str:
    return f"""
[job]
name = "bench"
[[sources]]
name = "bench"
domain = "math"
path = "{questions}"
[teacher]
model = "mock"
base_url = "{url}"
max_in_flight = {IN_FLIGHT}
[sampling]
n = {n}
max_tokens = 512
[output]
dir = "{out}"
"""


async def engine_run(url: str, questions: Path, n: int) -> tuple[float, float, int]:
    """Questions/s, samples/s and samples written by a full job."""
    with tempfile.TemporaryDirectory() as out:
        recipe = parse_recipe(recipe_text(url, questions, Path(out), n))
        job = Job(recipe)
        started = time.perf_counter()
        await job.run()
        elapsed = time.perf_counter() - started
        m = job.metrics
        return m.questions_done / elapsed, m.samples_written / elapsed, m.samples_written


def peak_rss_mb(size: int, workdir: Path) -> float:
    """Peak RSS of a child process running a whole job over ``size`` questions (n=1, 0 ms).

    VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's size at fork."""
    questions = workdir / f"rss_{size}.jsonl"
    write_questions(questions, size)
    mock, url = start_mock(0, None)
    try:
        code = (
            "import re, uvloop\n"
            "from engine.config import parse_recipe\nfrom engine.job import Job\n"
            f"recipe = parse_recipe({recipe_text(url, questions, workdir / f'out_{size}', 1)!r})\n"
            "uvloop.run(Job(recipe).run())\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return int(result.stdout.split()[-1]) / 1024
    finally:
        mock.terminate()
        mock.wait()


def measure(url: str, questions: Path, count: int, ideal: float | None) -> dict[str, float]:
    """One round over ``count`` questions: both floors and the engine at n=1 and n=16."""
    floor = uvloop.run(aiohttp_floor(url, count))
    own = uvloop.run(own_floor(url, count))
    qps, sps, _ = uvloop.run(engine_run(url, questions, 1))
    qps16, sps16, _ = uvloop.run(engine_run(url, questions, 16))
    return {
        "floor_rps": floor,
        "own_floor_rps": own,
        "engine_qps_n1": qps,
        "engine_sps_n1": sps,
        "engine_qps_n16": qps16,
        "engine_sps_n16": sps16,
        "ratio_to_floor": sps / floor,
        "ratio_to_own_floor": sps / own,
        **({"ratio_to_ideal": sps / ideal} if ideal else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3, help="rounds per latency; medians")
    parser.add_argument("--rss-sizes", default="100000,1000000")
    args = parser.parse_args()
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        questions = workdir / "questions.jsonl"
        write_questions(questions, args.questions)
        for latency in (0.0, 100.0):
            ideal = IN_FLIGHT / (latency / 1000) if latency else None
            mock, url = start_mock(latency, questions)
            try:
                runs = [measure(url, questions, args.questions, ideal) for _ in range(args.repeats)]
            finally:
                mock.terminate()
                mock.wait()
            median = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
            spread = {
                name: [round(min(r[name] for r in runs), 3), round(max(r[name] for r in runs), 3)]
                for name in runs[0]
                if name.startswith("ratio")
            }
            key = f"{int(latency)}ms"
            results[key] = {name: round(value, 3) for name, value in median.items()}
            results[key]["ratio_ranges"] = spread
            rows.append((key, median, ideal))
        rss = {}
        for size in (int(s) for s in args.rss_sizes.split(",") if s):
            rss[str(size)] = round(peak_rss_mb(size, workdir), 1)
    print(f"medians of {args.repeats} runs of {args.questions} questions, 256 in flight")
    print(f"{'latency':>7} {'aiohttp floor':>13} {'own floor':>9} {'ideal':>6} "
          f"{'engine q/s':>10} {'/aiohttp':>8} {'/own':>5} {'/ideal':>6} {'n=16 q/s':>8} "
          f"{'samples/s':>9}")  # fmt: skip
    for key, m, ideal in rows:
        versus_ideal = f"{m['ratio_to_ideal']:.2f}" if ideal else "-"
        print(f"{key:>7} {m['floor_rps']:>13.0f} {m['own_floor_rps']:>9.0f} {ideal or 0:>6.0f} "
              f"{m['engine_qps_n1']:>10.0f} {m['ratio_to_floor']:>8.2f} "
              f"{m['ratio_to_own_floor']:>5.2f} {versus_ideal:>6} {m['engine_qps_n16']:>8.0f} "
              f"{m['engine_sps_n16']:>9.0f}")  # fmt: skip
    for size, mb in rss.items():
        print(f"peak RSS streaming {size} questions: {mb:.0f} MB")
    results["peak_rss_mb"] = rss
    results["bench_rss_self_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["cpus"] = os.cpu_count()
    print(json.dumps({"bench": "engine_throughput", **results}))


if __name__ == "__main__":
    main()
