"""Scale-out: samples/s of one job run by 1, 2 and 4 Ray partition workers against a mock
teacher with latency, the global rate limiter's cost per request, and from those figures an
estimate of the driver's and the limiter's load at 100 workers x 256 in flight.

Each worker is capped at ``--in-flight`` requests and the mock answers after ``--latency-ms``,
so a worker's ceiling is in_flight / latency: the workers, not this machine's 2 cores, are the
limit, and N workers should give about N times one. Verification is off (this measures the
scale-out, not the math verifier; bench/engine_throughput.py measures that). The anchors, in the
same run: one plain process (no Ray) with the same cap, and the same job as N plain processes
(``--partition I/N``, as a Slurm array runs it). Throughput is the mock's own count of answered
requests (n = 1: one sample each) over the middle 60% of each run, so start-up (Ray actors
importing the engine) is not counted; whole-run wall times are printed beside it.

    python bench/scale_out.py [--questions 3000] [--latency-ms 200] [--in-flight 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from tests.helpers import recipe_toml, write_questions  # noqa: E402

WORKERS = (1, 2, 4)


def start_mock(latency_ms: int) -> tuple[subprocess.Popen, str]:
    mock = subprocess.Popen(
        [sys.executable, "-m", "engine", "mock-teacher", "--port", "0",
         "--latency-ms", str(latency_ms)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = mock.stdout.readline()
    return mock, line[line.index("http://") :].strip()


def answered(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/mock/stats") as reply:
        return json.load(reply).get("ok", 0)


def recipe(tmp: Path, url: str, questions: Path, name: str, in_flight: int) -> Path:
    out = tmp / name
    path = tmp / f"{name}.toml"
    cap = f"max_in_flight = {in_flight}\nmin_in_flight = {in_flight}"
    teacher = f'model = "mock"\nbase_url = "{url}"\n{cap}'
    path.write_text(
        recipe_toml(
            url, questions, out,
            teacher=teacher,
            sampling="n = 1\nmax_tokens = 256",
            output=f'dir = "{out}"\nshard_records = 2000\nflush_records = 64',
            verify="math = { enabled = false }",
        )
    )  # fmt: skip
    return path


def measured(commands: list[list[str]], url: str, total: int) -> dict[str, float]:
    """Run the commands together; samples/s over the middle 60% of the answers."""
    base = answered(url)
    start = time.monotonic()
    runs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for c in commands]  # fmt: skip
    marks: dict[float, float] = {}
    while any(run.poll() is None for run in runs):
        done = answered(url) - base
        for share in (0.2, 0.8):
            if share not in marks and done >= share * total:
                marks[share] = time.monotonic()
        time.sleep(0.05)
    wall = time.monotonic() - start
    for run in runs:
        assert run.returncode == 0, run.stderr.read().decode()[-2000:]
    rate = 0.6 * total / (marks[0.8] - marks[0.2])
    return {"samples_per_s": round(rate, 1), "wall_s": round(wall, 1)}


async def limiter_cost(samples: int = 2000) -> dict[str, float]:
    """A lease's round trip from an async actor to the budget actor, the budget's own cost per
    lease, and the local bucket's per take (the anchor)."""
    import ray

    from engine.backends.limits import TokenBucket
    from engine.distributed.limiter import GlobalBudget

    budget = GlobalBudget(10**9, 0)
    start = time.perf_counter()
    for _ in range(samples * 10):
        budget.lease("requests", 1)
    in_actor_us = (time.perf_counter() - start) / (samples * 10) * 1e6

    bucket = TokenBucket(10**9)
    start = time.perf_counter()
    for _ in range(samples * 10):
        await bucket.take(1)
    local_us = (time.perf_counter() - start) / (samples * 10) * 1e6

    @ray.remote(num_cpus=0)
    class Caller:
        async def leases(self, budget, count: int, at_once: int = 1) -> float:
            begin = time.perf_counter()
            for _ in range(count // at_once):
                await asyncio.gather(*(budget.lease.remote("requests", 1) for _ in range(at_once)))
            return (time.perf_counter() - begin) / count * 1e6

    actor = ray.remote(num_cpus=0)(GlobalBudget).remote(10**9, 0)
    caller = Caller.remote()
    await caller.leases.remote(actor, 50)  # warm
    round_trip_us = await caller.leases.remote(actor, samples)
    callers = [Caller.remote() for _ in range(4)]
    begin = time.perf_counter()
    await asyncio.gather(*(c.leases.remote(actor, samples, 16) for c in callers))
    served_per_s = 4 * samples / (time.perf_counter() - begin)  # 4 x 16 in flight: its capacity
    return {
        "lease_round_trip_us": round(round_trip_us, 1),
        "budget_us_per_lease": round(in_actor_us, 2),
        "local_bucket_us_per_take": round(local_us, 2),
        "leases_per_s_one_actor": round(served_per_s),
    }


def driver_poll_cost(workers: int = 4, rounds: int = 50) -> float:
    """The driver's own CPU time (microseconds) to fetch and decode one worker's counters, as a
    poll does (all workers at once)."""
    import ray

    from engine.distributed.aggregate import counters_of
    from engine.metrics import Metrics

    @ray.remote(num_cpus=0)
    class Worker:
        def __init__(self):
            self.metrics = Metrics()
            for domain in ("math", "code", "science"):
                self.metrics.count_verdict(domain, "passed")
                self.metrics.verify_seconds[domain].observe(0.01)
            self.metrics.request_seconds["mock"].observe(1.0)

        async def counters(self):
            return counters_of(self.metrics)

    actors = [Worker.remote() for _ in range(workers)]
    ray.get([a.counters.remote() for a in actors])
    start = time.process_time()
    for _ in range(rounds):
        ray.get([a.counters.remote() for a in actors])
    return (time.process_time() - start) / (rounds * workers) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=3000)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    address = ray.get_runtime_context().gcs_address
    mock, url = start_mock(args.latency_ms)
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="tm-scale-") as tmp_dir:
            tmp = Path(tmp_dir)
            questions = write_questions(tmp / "q.jsonl", args.questions)
            engine = [sys.executable, "-m", "engine", "run", "--quiet", "--config"]
            config = recipe(tmp, url, questions, "single", args.in_flight)
            results["1 process (no Ray)"] = measured([[*engine, str(config)]], url, args.questions)
            for n in WORKERS:
                config = recipe(tmp, url, questions, f"ray{n}", args.in_flight)
                command = [*engine, str(config), "--ray", address, "--workers", str(n)]
                results[f"Ray, {n} workers"] = measured([command], url, args.questions)
            config = recipe(tmp, url, questions, "parts4", args.in_flight)
            tasks = [[*engine, str(config), "--partition", f"{i}/4"] for i in range(4)]
            results["4 plain processes (--partition)"] = measured(tasks, url, args.questions)
        limiter = asyncio.run(limiter_cost())
        poll_us = driver_poll_cost()
    finally:
        mock.terminate()
        mock.wait()
        ray.shutdown()

    ceiling = args.in_flight / (args.latency_ms / 1000)
    one = results["Ray, 1 workers"]["samples_per_s"]
    print(f"{'run':<34}{'samples/s':>10}{'x 1 worker':>12}{'wall s':>8}")
    for name, r in results.items():
        print(
            f"{name:<34}{r['samples_per_s']:>10}{r['samples_per_s'] / one:>12.2f}{r['wall_s']:>8}"
        )
    print(
        f"(a worker's ceiling: {args.in_flight} in flight / {args.latency_ms} ms = {ceiling:.0f}/s)"
    )
    print("limiter:", ", ".join(f"{k} {v}" for k, v in limiter.items()))
    print(f"driver: {poll_us:.0f} us of CPU per worker per poll (one counters fetch)")

    # the estimate at 100 workers x 256 in flight, from the figures above
    workers, in_flight, latency_s = 100, 256, 30.0  # a 32k-token trace takes ~30 s to decode
    requests_per_s = workers * in_flight / latency_s
    from engine.distributed.driver import POLL_S
    from engine.distributed.limiter import LEASE_S

    leases_per_s = min(requests_per_s, workers / LEASE_S)  # batches of LEASE_S per worker
    limiter_load = leases_per_s / limiter["leases_per_s_one_actor"]
    driver_load = workers / POLL_S * poll_us / 1e6
    estimate = (
        f"At {workers} workers x {in_flight} in flight and {latency_s:.0f} s a request: "
        f"{requests_per_s:.0f} requests/s in all. Leasing batches of {LEASE_S} s of each worker's "
        f"share, the limiter actor serves at most {leases_per_s:.0f} leases/s "
        f"(fewer when requests are rarer), {100 * limiter_load:.0f}% of the "
        f"{limiter['leases_per_s_one_actor']} leases/s one actor served here (64 in flight); a "
        f"request waits for a lease round trip ({limiter['lease_round_trip_us']} us here) once a "
        f"batch, against {limiter['local_bucket_us_per_take']} us for a local bucket. The driver "
        f"polls {workers} workers every {POLL_S} s: {workers / POLL_S:.0f} fetches/s at "
        f"{poll_us:.0f} us of its CPU each, {100 * driver_load:.0f}% of one core."
    )
    print(estimate)
    print(json.dumps({"results": results, "limiter": limiter, "driver_poll_us": round(poll_us),
                      "estimate": estimate}))  # fmt: skip


if __name__ == "__main__":
    main()
