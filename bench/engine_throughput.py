"""End-to-end engine throughput against the mock teacher on loopback, beside Curator and two floors.

Two workloads (bench/common/workloads.py): *friendly* (integer golds, 60-token plain replies:
the verifier's fast path) and *realistic* (MATH-500 golds; ``<think>`` traces of 2-16 KiB;
answers as equivalent rewrites or near misses; a share of hostile replies). For each workload and
latency (0 ms, 100 ms), all against the same mock teacher subprocess, in the same run:

- aiohttp floor: a bare aiohttp+uvloop client posting the questions' bodies, 256 in flight,
  discarding the answers; own floor: the same through the engine's HTTP client (engine.backends.
  http1), so "engine / own floor" is what the pipeline, verification and shards cost on top;
- engine: a full job (read JSONL -> prompt -> generate -> math verify -> zstd shards) at n=1,
  with the event-loop lag sampled in its process (engine.looplag, every 5 ms); the same job with
  ``[verify.math] enabled = false`` (the engine's own overhead); and at n=16 (native n; on
  1/16 of the questions for the realistic workload, so about as many samples);
- Curator: Bespoke Curator on the same mock and questions with the same concurrency and no rate
  limit (bench/common/curator_client.py), when ``bespokelabs-curator`` imports in this Python or
  in the one ``--curator-python`` (or $CURATOR_PYTHON) names; skipped otherwise.

Each latency runs ``--repeats`` rounds of all of them back to back; the table shows medians and
the JSON line also each figure's range. At 100 ms a run starts with all 256 requests in one
burst that takes many round trips to spread out, so short runs understate the steady state.
Then peak RSS (the child's VmHWM: the engine's process, not its math workers) of whole jobs
streaming ``--rss`` questions.

    python bench/engine_throughput.py [--questions 20000] [--repeats 3] [--latencies 0,100]
        [--workloads friendly,realistic] [--rss friendly:100000,...] [--curator-python PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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
from typing import TypeVar

import aiohttp
import msgspec
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common.cpu import TreeCPU  # noqa: E402
from bench.common.workloads import NAMES, Workload, workload  # noqa: E402
from engine.backends.http1 import HTTPClient  # noqa: E402
from engine.config import parse_recipe  # noqa: E402
from engine.job import Job  # noqa: E402
from engine.looplag import LoopLag  # noqa: E402

IN_FLIGHT = 256
CURATOR_CLIENT = ROOT / "bench" / "common" / "curator_client.py"
CURATOR_VENV_PYTHON = "/opt/thoughtmill/curator-venv/bin/python"  # .ci/curator_env.sh
R = TypeVar("R")


def start_mock(work: Workload, latency_ms: float, answer_key: Path) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "engine", "mock-teacher", "--port", "0", *work.mock_flags]
    args += ["--latency-ms", str(latency_ms), "--answer-key", str(answer_key)]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if "http://" not in line:
        raise SystemExit(f"mock teacher did not start: {' '.join(args)}")
    return process, line[line.index("http://") :].strip()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait()


def problems(questions: Path) -> list[str]:
    return [msgspec.json.decode(line)["problem"] for line in questions.read_bytes().splitlines()]


def request_bodies(prompts: list[str], max_tokens: int) -> list[bytes]:
    """The bodies the floors post: each question's prompt, as the engine and Curator send it."""
    encode = msgspec.json.Encoder().encode
    return [
        encode(
            {
                "model": "mock",
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
                "n": 1,
                "seed": 1,
            }
        )
        for prompt in prompts
    ]


Post = Callable[[bytes], Awaitable[object]]


async def post_and_discard(post: Post, bodies: list[bytes]) -> float:
    """Requests/s of IN_FLIGHT workers that only call ``post`` until every body is sent."""
    pending = iter(bodies)

    async def worker() -> None:
        for body in pending:
            await post(body)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return len(bodies) / (time.perf_counter() - started)


async def aiohttp_floor(url: str, bodies: list[bytes]) -> float:
    """The issue's floor: a bare aiohttp+uvloop client."""
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes) -> None:
            async with session.post(url + "/chat/completions", data=body) as response:
                await response.read()

        return await post_and_discard(post, bodies)


async def own_floor(url: str, bodies: list[bytes]) -> float:
    """The engine's own HTTP client, bare."""
    client = HTTPClient(url, {"Content-Type": "application/json"})
    try:
        return await post_and_discard(lambda b: client.post("/v1/chat/completions", b), bodies)
    finally:
        await client.close()


def recipe_text(
    url: str,
    questions: Path,
    out: Path,
    n: int,
    max_tokens: int,
    *,
    verify: bool = True,
    max_questions: int = 0,
) -> str:
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
max_tokens = {max_tokens}
[verify.math]
enabled = {str(verify).lower()}
[limits]
max_questions = {max_questions}
[output]
dir = "{out}"
"""


async def engine_run(
    url: str, questions: Path, n: int, max_tokens: int, verify: bool, max_questions: int = 0
) -> dict[str, float]:
    """Samples/s and questions/s of a full job, and the event-loop lag during it."""
    with tempfile.TemporaryDirectory() as out:
        recipe = recipe_text(
            url, questions, Path(out), n, max_tokens, verify=verify, max_questions=max_questions
        )
        job = Job(parse_recipe(recipe))
        async with LoopLag(interval_s=0.005, window_s=10**6) as lag:  # the whole job
            started = time.perf_counter()
            await job.run()
            elapsed = time.perf_counter() - started
        m = job.metrics
        return {
            "sps": m.samples_written / elapsed,
            "samples": m.samples_written,
            "qps": m.questions_done / elapsed,
            "passed": m.verdicts.get("passed", 0) / max(m.samples_written, 1),
            "lag_p50_ms": (stats := lag.stats()).p50_ms,
            "lag_p99_ms": stats.p99_ms,
            "lag_max_ms": stats.max_ms,
        }


def curator_python(requested: str | None) -> str | None:
    """A Python in which ``bespokelabs.curator`` imports: the one asked for, $CURATOR_PYTHON,
    the venv .ci/curator_env.sh builds, else this one."""
    candidates = (requested, os.environ.get("CURATOR_PYTHON"), CURATOR_VENV_PYTHON, sys.executable)
    for python in filter(None, candidates):
        if not Path(python).exists():
            continue
        probe = [python, "-c", "import bespokelabs.curator"]
        if subprocess.run(probe, capture_output=True, env=_curator_env()).returncode == 0:
            return python
    return None


def _curator_env() -> dict[str, str]:
    return dict(os.environ, TELEMETRY_ENABLED="false")


def curator_run(python: str, url: str, prompts: list[str], max_tokens: int) -> float:
    """Curator's requests/s over ``prompts`` (a fresh process and working dir each round)."""
    with tempfile.TemporaryDirectory() as workdir:
        job = {
            "url": url,
            "prompts": prompts,
            "in_flight": IN_FLIGHT,
            "max_tokens": max_tokens,
            "workdir": workdir,
        }
        result = subprocess.run(
            [python, str(CURATOR_CLIENT)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=_curator_env(),
        )
    if result.returncode != 0:
        raise SystemExit(f"Curator failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["rows"] != len(prompts) or report["failed"]:
        raise SystemExit(f"Curator returned {report} for {len(prompts)} prompts")
    return report["rows"] / report["seconds"]


def on_cpu(mock: int, run: Callable[[], R]) -> tuple[R, float]:
    """``run()`` and the CPU seconds this process and its descendants (the math workers, a
    Curator process) used for it, the mock teacher ``mock`` excepted."""
    with TreeCPU(exclude={mock}) as cpu:
        result = run()
    return result, cpu.seconds


def measure(
    work: Workload,
    mock: int,
    url: str,
    questions: Path,
    bodies: list[bytes],
    prompts: list[str],
    ideal: float | None,
    curator: str | None,
) -> dict[str, float]:
    """One round: both floors, the engine (n=1 with and without math verify, n=16), Curator;
    each also per CPU second of the client's process tree, and the load average around it."""
    load_before = os.getloadavg()[0]
    floor, floor_cpu = on_cpu(mock, lambda: uvloop.run(aiohttp_floor(url, bodies)))
    own = uvloop.run(own_floor(url, bodies))
    run = functools.partial(engine_run, url, questions, 1, work.max_tokens)
    engine, engine_cpu = on_cpu(mock, lambda: uvloop.run(run(True)))
    bare, bare_cpu = on_cpu(mock, lambda: uvloop.run(run(False)))
    share = len(prompts) if work.name == "friendly" else max(len(prompts) // 16, IN_FLIGHT)
    n16 = uvloop.run(engine_run(url, questions, 16, work.max_tokens, True, share))
    sps = engine["sps"]
    per_cpu = {
        "floor_rps_per_cpu_s": len(bodies) / floor_cpu,
        "engine_sps_per_cpu_s": engine["samples"] / engine_cpu,
        "engine_sps_per_cpu_s_no_math": bare["samples"] / bare_cpu,
    }
    result = {
        **per_cpu,
        "floor_rps": floor,
        "own_floor_rps": own,
        "engine_sps_n1": sps,
        "engine_sps_n1_no_math": bare["sps"],
        "engine_qps_n16": n16["qps"],
        "engine_sps_n16": n16["sps"],
        "pass_rate": engine["passed"],
        "lag_p50_ms": engine["lag_p50_ms"],
        "lag_p99_ms": engine["lag_p99_ms"],
        "lag_max_ms": engine["lag_max_ms"],
        "lag_p99_ms_no_math": bare["lag_p99_ms"],
        "lag_p99_ms_n16": n16["lag_p99_ms"],
        "ratio_to_floor": sps / floor,
        "ratio_to_own_floor": sps / own,
        "ratio_to_floor_no_math": bare["sps"] / floor,
    }
    if ideal:
        result |= {"ratio_to_ideal": sps / ideal, "ratio_to_ideal_no_math": bare["sps"] / ideal}
    if curator is not None:
        rps, curator_cpu = on_cpu(mock, lambda: curator_run(curator, url, prompts, work.max_tokens))
        result |= {"curator_rps": rps, "ratio_to_curator": sps / rps}
        result["ratio_to_curator_no_math"] = bare["sps"] / rps
        curator_per_cpu = len(prompts) / curator_cpu
        result["curator_rps_per_cpu_s"] = curator_per_cpu
        result["ratio_to_curator_per_cpu_s"] = per_cpu["engine_sps_per_cpu_s"] / curator_per_cpu
    result |= {"load1_before": load_before, "load1_after": os.getloadavg()[0]}
    return result


def peak_rss_mb(work: Workload, size: int, workdir: Path) -> dict[str, float]:
    """Peak RSS (MB) of a child process running a whole job over ``size`` questions (n=1,
    0 ms), and the job's seconds (to judge how long a bigger size would take).

    VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's size at fork."""
    questions = workdir / f"rss_{work.name}_{size}.jsonl"
    work.write_questions(questions, size)
    mock, url = start_mock(work, 0, questions)
    out = workdir / f"out_{work.name}_{size}"
    try:
        code = (
            "import re, time, uvloop\n"
            "from engine.config import parse_recipe\nfrom engine.job import Job\n"
            f"recipe = parse_recipe({recipe_text(url, questions, out, 1, work.max_tokens)!r})\n"
            "started = time.perf_counter()\nuvloop.run(Job(recipe).run())\n"
            "print(time.perf_counter() - started)\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        seconds, kib = result.stdout.split()[-2:]
        return {"mb": round(int(kib) / 1024, 1), "seconds": round(float(seconds), 1)}
    finally:
        stop(mock)
        subprocess.run(["rm", "-rf", str(out), str(questions)], check=True)


def summarize(runs: list[dict[str, float]]) -> dict[str, object]:
    """Medians of every figure, and each figure's [min, max] over the rounds."""
    names = runs[0]
    median = {name: round(statistics.median(r[name] for r in runs), 3) for name in names}
    ranges = {
        name: [round(min(r[name] for r in runs), 3), round(max(r[name] for r in runs), 3)]
        for name in names
    }
    return {**median, "ranges": ranges}


def print_table(rows: list[tuple[str, dict, float | None]], has_curator: bool) -> None:
    def cell(m: dict, key: str, digits: int = 2) -> str:
        return f"{m[key]:.{digits}f}" if key in m else "-"

    print(f"{'workload':>9} {'latency':>7} {'aiohttp':>7} {'own':>6} {'ideal':>5} {'curator':>7} "
          f"{'engine':>6} {'/aiohttp':>8} {'/own':>4} {'/ideal':>6} {'/curator':>8} "
          f"{'no-math':>7} {'/curator':>8} {'lag99ms':>7} {'n=16 s/s':>8}")  # fmt: skip
    for label, m, ideal in rows:
        name, latency = label.split("/")
        curator = f"{m['curator_rps']:.0f}" if has_curator else "-"
        print(f"{name:>9} {latency:>7} {m['floor_rps']:>7.0f} {m['own_floor_rps']:>6.0f} "
              f"{ideal or 0:>5.0f} {curator:>7} {m['engine_sps_n1']:>6.0f} "
              f"{m['ratio_to_floor']:>8.2f} {m['ratio_to_own_floor']:>4.2f} "
              f"{cell(m, 'ratio_to_ideal'):>6} {cell(m, 'ratio_to_curator', 1):>8} "
              f"{m['engine_sps_n1_no_math']:>7.0f} {cell(m, 'ratio_to_curator_no_math', 1):>8} "
              f"{m['lag_p99_ms']:>7.1f} {m['engine_sps_n16']:>8.0f}")  # fmt: skip
    print("per CPU second of the client's process tree (self + children, the mock excepted); "
          "load = 1-min load average before/after the round")  # fmt: skip
    print(f"{'workload':>9} {'latency':>7} {'aiohttp':>7} {'curator':>7} {'engine':>6} "
          f"{'/curator':>8} {'no-math':>7} {'load':>9}")  # fmt: skip
    for label, m, _ in rows:
        name, latency = label.split("/")
        print(f"{name:>9} {latency:>7} {m['floor_rps_per_cpu_s']:>7.0f} "
              f"{cell(m, 'curator_rps_per_cpu_s', 0):>7} {m['engine_sps_per_cpu_s']:>6.0f} "
              f"{cell(m, 'ratio_to_curator_per_cpu_s', 1):>8} "
              f"{m['engine_sps_per_cpu_s_no_math']:>7.0f} "
              f"{m['load1_before']:>4.1f}/{m['load1_after']:<4.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20000)
    parser.add_argument("--realistic-questions", type=int, help="default: --questions")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per latency; medians")
    parser.add_argument("--workloads", default=",".join(NAMES))
    parser.add_argument("--latencies", default="0,100", help="mock latencies in ms")
    parser.add_argument("--hostile-rate", type=float, default=0.05, help="realistic workload")
    parser.add_argument("--trace-kb", default="2-16", help="realistic workload: LO-HI")
    parser.add_argument(
        "--rss",
        default="friendly:100000,friendly:1000000,realistic:10000,realistic:100000",
        help="peak-RSS runs, WORKLOAD:QUESTIONS,...",
    )
    parser.add_argument("--curator-python", help="a Python with bespokelabs-curator installed")
    args = parser.parse_args()
    curator = curator_python(args.curator_python)
    if curator is None:
        print("Curator: bespokelabs-curator not installed here (see --curator-python); skipped")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in args.workloads.split(","):
            work = workload(name, args.hostile_rate, args.trace_kb)  # type: ignore[arg-type]
            questions = workdir / f"{name}.jsonl"
            count = args.questions
            if name == "realistic" and args.realistic_questions:
                count = args.realistic_questions
            work.write_questions(questions, count)
            prompts = problems(questions)
            bodies = request_bodies(prompts, work.max_tokens)
            for latency in map(float, args.latencies.split(",")):
                ideal = IN_FLIGHT / (latency / 1000) if latency else None
                mock, url = start_mock(work, latency, questions)
                try:
                    runs = [
                        measure(work, mock.pid, url, questions, bodies, prompts, ideal, curator)
                        for _ in range(args.repeats)
                    ]
                finally:
                    stop(mock)
                key = f"{name}/{int(latency)}ms"
                results[key] = summarize(runs)
                rows.append((key, results[key], ideal))
        rss: dict[str, dict[str, float]] = {}
        for name, size in (spec.split(":") for spec in args.rss.split(",") if spec):
            work = workload(name, args.hostile_rate, args.trace_kb)  # type: ignore[arg-type]
            rss[f"{name}/{size}"] = peak_rss_mb(work, int(size), workdir)
    sizes = f"{args.questions} (realistic {args.realistic_questions or args.questions})"
    print(f"medians of {args.repeats} rounds of {sizes} questions, {IN_FLIGHT} in flight; "
          f"samples/s; engine n=1 unless marked; realistic golds: "
          f"{workload('realistic', 0, '2-16').source}")  # fmt: skip
    print_table(rows, curator is not None)
    for key, run in rss.items():
        print(f"peak RSS streaming {key} questions: {run['mb']:.0f} MB ({run['seconds']:.0f} s)")
    results["peak_rss_mb"] = rss
    results["bench_rss_self_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["cpus"] = os.cpu_count()
    results["curator"] = curator is not None
    print(json.dumps({"bench": "engine_throughput", **results}))


if __name__ == "__main__":
    main()
