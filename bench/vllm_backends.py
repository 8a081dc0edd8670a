"""Real vLLM on this machine: the in-process backend vs the same model behind vLLM's
OpenAI-compatible server, and concurrency steered by the server's /metrics vs a fixed in-flight.

Same tiny model, prompts, seeds and batch limit (max_num_seqs) for both backends, in the same run:
samples/s and completion tokens/s, plus a check that both wrote the same texts. Then the server is
driven by many workers with a fixed, oversubscribed in-flight count and steered by /metrics
(``server_metrics = "vllm"``), in alternating rounds: samples/s (steady and overall) and the
server's mean running and waiting, read by the same sampler for both, and the steered ceiling
against the server's queue over time.

Needs the vLLM venv (``bash .ci/vllm_env.sh``); run with its python:

    /opt/thoughtmill/vllm-venv/bin/python bench/vllm_backends.py [--prompts 64] [--n 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aiohttp

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # keep stdout for the table
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.backends.base import Backend, GenerationRequest  # noqa: E402
from engine.backends.openai_http import OpenAIBackend  # noqa: E402
from engine.backends.replicas import ReplicaSet  # noqa: E402
from engine.backends.vllm_inproc import VLLMBackend  # noqa: E402
from engine.backends.vllm_metrics import ServerLoad, parse_vllm_metrics  # noqa: E402
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


async def watch_queue(root: str, interval_s: float, into: list[tuple[float, ServerLoad]]) -> None:
    """The server's load every ``interval_s`` (the same sampler for both modes)."""
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{root}/metrics") as response:
                load = parse_vllm_metrics(await response.text())
            into.append((time.monotonic(), load))
            await asyncio.sleep(interval_s)


class Timed:
    """A backend that records when each generation finished."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.finished: list[float] = []

    async def generate(self, request: GenerationRequest):
        generation = await self.backend.generate(request)
        self.finished.append(time.monotonic())
        return generation


async def one_run(backend: Backend, server: harness.VLLMServer, args: argparse.Namespace) -> dict:
    """Workers send until ``args.seconds``, then what is in flight drains.

    ``steady``: completions per second and the server's mean load between ``args.warmup`` and
    the deadline (a long job's regime); ``overall``: every completion over the whole run,
    slow start and drain included.
    """
    await backend.start()
    timed = Timed(backend)
    queue: list[tuple[float, ServerLoad]] = []
    watcher = asyncio.ensure_future(watch_queue(server.root, 0.25, queue))
    started = time.monotonic()
    try:
        await drive(timed, args.workers, seconds=args.seconds, max_tokens=args.max_tokens)
    finally:
        watcher.cancel()
        await backend.close()
    ended = time.monotonic()
    low, high = started + args.warmup, started + args.seconds
    steady = [load for t, load in queue if low <= t <= high]
    return {
        "steady_samples": sum(low <= t <= high for t in timed.finished),
        "steady_seconds": high - low,
        "samples": len(timed.finished),
        "seconds": ended - started,
        "running": [load.running for load in steady],
        "waiting": [load.waiting for load in steady],
    }


def summary(runs: list[dict]) -> dict:
    """Rates and mean load pooled over a mode's runs."""

    def mean(values: list[float]) -> float:
        return round(sum(values) / max(len(values), 1), 2)

    return {
        "steady_samples_per_s": round(
            sum(r["steady_samples"] for r in runs) / sum(r["steady_seconds"] for r in runs), 1
        ),
        "overall_samples_per_s": round(
            sum(r["samples"] for r in runs) / sum(r["seconds"] for r in runs), 1
        ),
        "mean_running": mean([x for r in runs for x in r["running"]]),
        "mean_waiting": mean([x for r in runs for x in r["waiting"]]),
    }


async def steering(server: harness.VLLMServer, args: argparse.Namespace) -> dict:
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
                backend = ReplicaSet(TeacherSpec(**common, server_metrics="vllm"))
            runs[mode].append(await one_run(backend, server, args))
            if mode == "steered":
                history = list(backend.replicas[0].steering.controller.history)

    print(f"\nsteered: ceiling vs server queue, last run (max_num_seqs={args.max_num_seqs}, "
          f"{args.workers} workers)")  # fmt: skip
    print(f"{'t s':>6} {'ceiling':>8} {'in-flight':>10} {'running':>8} {'waiting':>8}")
    for o in history:
        print(f"{o.t:>6} {o.ceiling:>8} {o.in_flight:>10} {o.running:>8.0f} {o.waiting:>8.0f}")
    fixed, steered = summary(runs["fixed"]), summary(runs["steered"])
    return {
        "rounds": args.rounds,
        "fixed": {"in_flight": args.workers, **fixed},
        "steered": {"final_ceiling": history[-1].ceiling if history else None, **steered},
        "steered_vs_fixed_steady": round(
            steered["steady_samples_per_s"] / max(fixed["steady_samples_per_s"], 1e-9), 3
        ),
        "steered_vs_fixed_overall": round(
            steered["overall_samples_per_s"] / max(fixed["overall_samples_per_s"], 1e-9), 3
        ),
        "waiting_steered_vs_fixed": round(
            steered["mean_waiting"] / max(fixed["mean_waiting"], 1e-9), 3
        ),
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
        steer = await steering(server, args)
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
    parser.add_argument("--seconds", type=float, default=15.0, help="steering: each run's length")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="steering: before the steady part"
    )
    parser.add_argument("--rounds", type=int, default=2, help="steering: runs per mode")
    parser.add_argument("--server-log", default="/tmp/thoughtmill-bench-vllm-server.log")
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result))
