"""Real vLLM on this machine: the in-process backend vs the same model behind vLLM's
OpenAI-compatible server, and concurrency steered by the server's /metrics vs a fixed in-flight.

Same tiny model, prompts, seeds and batch limit (max_num_seqs) for both backends, in the same run:
samples/s and completion tokens/s, plus a check that both wrote the same texts. Then the server is
driven by many workers with a fixed, oversubscribed in-flight count and steered by /metrics
(``server_metrics = "vllm"``), in alternating rounds, with requests of varied lengths (as real
traces are) and of equal ones (every batch finishes at once: the hardest case for a short
queue). Per mode: samples/s and tokens/s (steady and overall); the server's mean running and
waiting, read by the same sampler for both; generated tokens per engine step (how full the
batch is whenever the engine steps, which a busy machine does not blur); and this client's
event-loop lag p99 (how starved of CPU the machine is). Then the steered ceiling against the
server's queue over time.

Needs the vLLM venv (``bash .ci/vllm_env.sh``); run with its python:

    /opt/thoughtmill/vllm-venv/bin/python bench/vllm_backends.py [--prompts 64] [--n 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

import aiohttp
import msgspec

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # keep stdout for the table
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backends.base import Backend, GenerationRequest  # noqa: E402
from engine.backends.openai_http import OpenAIBackend  # noqa: E402
from engine.backends.replicas import ReplicaSet  # noqa: E402
from engine.backends.vllm_inproc import VLLMBackend  # noqa: E402
from engine.backends.vllm_metrics import ServerLoad, parse_vllm_metrics  # noqa: E402
from engine.looplag import LoopLag  # noqa: E402
from engine.records import Message  # noqa: E402
from engine.specs import TeacherSpec  # noqa: E402
from tests.vllm_support import harness  # noqa: E402
from tests.vllm_support.load import drive  # noqa: E402


def prompts(count: int, n: int, max_tokens: int) -> list[GenerationRequest]:
    return [
        GenerationRequest(
            [Message("user", f"Problem {i}: compute the sum of the first {i + 2} squares.")],
            [1000 * i + j for j in range(n)],
            max_tokens,
        )
        for i in range(count)
    ]


async def throughput(backend: Backend, requests: list[GenerationRequest]) -> dict:
    """All requests at once (the backend's limiter decides what is in flight)."""
    await backend.generate(requests[0])  # warm-up
    started = time.monotonic()
    generations = await asyncio.gather(*(backend.generate(r) for r in requests))
    elapsed = time.monotonic() - started
    samples = sum(len(g.completions) for g in generations)
    tokens = sum(c.completion_tokens for g in generations for c in g.completions)
    texts = [c.text for g in generations for c in g.completions]
    return {
        "seconds": round(elapsed, 3),
        "samples_per_s": round(samples / elapsed, 1),
        "tokens_per_s": round(tokens / elapsed, 1),
        "texts": texts,
    }


class Scrape(msgspec.Struct):
    """One /metrics page: the scheduler gauges and the two counters of engine steps."""

    t: float
    load: ServerLoad
    generation_tokens: float
    steps: float


def counter(page: str, name: str) -> float:
    return sum(float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", page, re.M))


async def watch_queue(root: str, interval_s: float, into: list[Scrape]) -> None:
    """The server's load every ``interval_s`` (the same sampler for both modes)."""
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{root}/metrics") as response:
                page = await response.text()
            into.append(
                Scrape(
                    time.monotonic(),
                    parse_vllm_metrics(page),
                    counter(page, "vllm:generation_tokens_total"),
                    counter(page, "vllm:iteration_tokens_total_count"),
                )
            )
            await asyncio.sleep(interval_s)


class Timed:
    """A backend that records when each generation finished and its tokens; with ``varied``,
    request ``i`` asks for its own length (a fixed spread around ``max_tokens``)."""

    def __init__(self, backend: Backend, varied: bool):
        self.backend = backend
        self.varied = varied
        self.finished: list[tuple[float, int]] = []

    async def generate(self, request: GenerationRequest):
        if self.varied:
            low, high = request.max_tokens // 4, 2 * request.max_tokens
            length = low + (request.seeds[0] * 7919) % (high - low + 1)
            request = msgspec.structs.replace(request, max_tokens=length)
        generation = await self.backend.generate(request)
        tokens = sum(c.completion_tokens for c in generation.completions)
        self.finished.append((time.monotonic(), tokens))
        return generation


async def one_run(
    backend: Backend, server: harness.VLLMServer, args: argparse.Namespace, varied: bool
) -> dict:
    """Workers send until ``args.seconds``, then what is in flight drains.

    ``steady``: completions per second and the server's load between ``args.warmup`` and the
    deadline (a long job's regime); ``overall``: every completion over the whole run, slow
    start and drain included.
    """
    await backend.start()
    timed = Timed(backend, varied)
    queue: list[Scrape] = []
    watcher = asyncio.ensure_future(watch_queue(server.root, 0.5, queue))
    started = time.monotonic()
    try:
        async with LoopLag() as lag:  # this client's own loop: how starved the machine is
            await drive(timed, args.workers, seconds=args.seconds, max_tokens=args.max_tokens)
    finally:
        watcher.cancel()
        await backend.close()
    if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
        raise RuntimeError("the /metrics sampler failed") from watcher.exception()
    ended = time.monotonic()
    low, high = started + args.warmup, started + args.seconds
    steady = [scrape for scrape in queue if low <= scrape.t <= high]
    in_window = [tokens for t, tokens in timed.finished if low <= t <= high]
    return {
        "steady_samples": len(in_window),
        "steady_tokens": sum(in_window),
        "steady_seconds": high - low,
        "samples": len(timed.finished),
        "seconds": ended - started,
        "running": [scrape.load.running for scrape in steady],
        "waiting": [scrape.load.waiting for scrape in steady],
        "server_tokens": steady[-1].generation_tokens - steady[0].generation_tokens,
        "server_steps": steady[-1].steps - steady[0].steps,
        "client_loop_lag_p99_ms": lag.stats().p99_ms,
    }


def summary(runs: list[dict]) -> dict:
    """Rates and mean load pooled over a mode's runs."""

    def mean(values: list[float]) -> float:
        return round(sum(values) / max(len(values), 1), 2)

    def rate(count: str, seconds: str) -> float:
        return round(sum(r[count] for r in runs) / sum(r[seconds] for r in runs), 2)

    return {
        "steady_samples_per_s": rate("steady_samples", "steady_seconds"),
        "steady_tokens_per_s": rate("steady_tokens", "steady_seconds"),
        "overall_samples_per_s": rate("samples", "seconds"),
        "tokens_per_engine_step": rate("server_tokens", "server_steps"),
        "mean_running": mean([x for r in runs for x in r["running"]]),
        "mean_waiting": mean([x for r in runs for x in r["waiting"]]),
        "client_loop_lag_p99_ms": max(r["client_loop_lag_p99_ms"] for r in runs),
        "per_run_samples_per_s": [
            round(r["steady_samples"] / r["steady_seconds"], 1) for r in runs
        ],
    }


async def steering(server: harness.VLLMServer, args: argparse.Namespace, varied: bool) -> dict:
    """Fixed in-flight (``args.workers``, oversubscribed) against /metrics-steered, in rounds
    of alternating order (fixed, steered, steered, fixed, ...) so that a change in the
    machine's load hits both modes alike."""
    common = dict(model=server.model, base_url=server.url, max_in_flight=args.workers)
    runs: dict[str, list[dict]] = {"fixed": [], "steered": []}
    history = []
    for round_ in range(args.rounds):
        order = ("fixed", "steered") if round_ % 2 == 0 else ("steered", "fixed")
        for mode in order:
            if mode == "fixed":
                backend: Backend = OpenAIBackend(TeacherSpec(**common))
            else:
                spec = TeacherSpec(
                    **common, server_metrics="vllm", server_queue_share=args.queue_share
                )
                backend = ReplicaSet(spec)
            runs[mode].append(await one_run(backend, server, args, varied))
            if mode == "steered":
                history = list(backend.replicas[0].steering.controller.history)

    lengths = "varied" if varied else "equal"
    print(f"\nsteered, {lengths} lengths: ceiling vs server queue, last run "
          f"(max_num_seqs={args.max_num_seqs}, {args.workers} workers)")  # fmt: skip
    print(f"{'t s':>6} {'ceiling':>8} {'in-flight':>10} {'running':>8} {'waiting':>8}")
    for o in history:
        print(f"{o.t:>6} {o.ceiling:>8} {o.in_flight:>10} {o.running:>8.0f} {o.waiting:>8.0f}")
    fixed, steered = summary(runs["fixed"]), summary(runs["steered"])

    def ratio(key: str) -> float:
        return round(steered[key] / max(fixed[key], 1e-9), 3)

    return {
        "rounds": args.rounds,
        "fixed": {"in_flight": args.workers, **fixed},
        "steered": {"final_ceiling": history[-1].ceiling if history else None, **steered},
        "steered_vs_fixed_steady_samples": ratio("steady_samples_per_s"),
        "steered_vs_fixed_steady_tokens": ratio("steady_tokens_per_s"),
        "steered_vs_fixed_overall": ratio("overall_samples_per_s"),
        "steered_vs_fixed_running": ratio("mean_running"),
        "steered_vs_fixed_tokens_per_step": ratio("tokens_per_engine_step"),
        "waiting_steered_vs_fixed": ratio("mean_waiting"),
    }


async def main(args: argparse.Namespace) -> dict:
    engine_args = dict(harness.CPU_ENGINE_ARGS, max_num_seqs=args.max_num_seqs)
    log_path = Path(args.server_log)
    server = harness.VLLMServer(log_path, "--max-num-seqs", str(args.max_num_seqs))
    try:
        requests = prompts(args.prompts, args.n, args.max_tokens)
        inproc_spec = TeacherSpec(
            backend="vllm", model=server.model, engine_args=engine_args, max_in_flight=256
        )
        inproc = VLLMBackend(inproc_spec)
        await inproc.start()  # loads while the server loads
        try:
            await asyncio.to_thread(server.wait_ready)  # measure on an otherwise idle machine
            inproc_result = await throughput(inproc, requests)
        finally:
            await inproc.close()
        http_spec = TeacherSpec(model=server.model, base_url=server.url, max_in_flight=256)
        http = OpenAIBackend(http_spec)
        await http.start()
        try:
            http_result = await throughput(http, requests)
        finally:
            await http.close()
        same = inproc_result.pop("texts") == http_result.pop("texts")

        print(f"{args.prompts} prompts x n={args.n}, max_tokens={args.max_tokens}, "
              f"max_num_seqs={args.max_num_seqs}")  # fmt: skip
        print(f"{'backend':<12} {'seconds':>8} {'samples/s':>10} {'tokens/s':>10}")
        for name, result in (("in-process", inproc_result), ("http", http_result)):
            print(f"{name:<12} {result['seconds']:>8} {result['samples_per_s']:>10} "
                  f"{result['tokens_per_s']:>10}")  # fmt: skip
        print(f"same texts for the same seeds: {same}")
        steer = {
            lengths: await steering(server, args, varied=lengths == "varied")
            for lengths in args.lengths
        }
    finally:
        server.stop()
    return {
        "bench": "vllm_backends",
        "prompts": args.prompts,
        "n": args.n,
        "max_tokens": args.max_tokens,
        "inproc": inproc_result,
        "http": http_result,
        "http_vs_inproc_tokens": round(
            http_result["tokens_per_s"] / max(inproc_result["tokens_per_s"], 1e-9), 3
        ),
        "same_texts": same,
        "steering": steer,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-num-seqs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=64, help="steering: workers sending")
    parser.add_argument("--seconds", type=float, default=12.0, help="steering: each run's length")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="steering: before the steady part"
    )
    parser.add_argument("--rounds", type=int, default=6, help="steering: runs per mode")
    parser.add_argument(
        "--queue-share", type=float, default=TeacherSpec(model="m").server_queue_share,
        help="steering: the teacher's server_queue_share (default: the recipe default)",
    )  # fmt: skip
    parser.add_argument(
        "--lengths", nargs="+", choices=["varied", "equal"], default=["varied", "equal"],
        help="steering: each request its own max_tokens (as real traces vary), or all alike "
        "(every batch finishes at once: the hardest case for a short queue)",
    )  # fmt: skip
    parser.add_argument("--server-log", default="/tmp/thoughtmill-bench-vllm-server.log")
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result))
