"""Real vLLM on this machine: the in-process backend vs the same model behind vLLM's
OpenAI-compatible server, and concurrency steered by the server's /metrics vs a fixed in-flight.

Same tiny model, prompts, seeds and batch limit (max_num_seqs) for both backends, in the same run:
samples/s and completion tokens/s, plus a check that both wrote the same texts. Then the server is
driven by many workers twice, with a fixed in-flight count and steered by /metrics, printing the
engine's in-flight ceiling against the server's queue over time.

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
    """The server's load every ``interval_s``, for the fixed-in-flight run."""
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{root}/metrics") as response:
                load = parse_vllm_metrics(await response.text())
            into.append((round(time.monotonic() - started, 2), load))
            await asyncio.sleep(interval_s)


async def samples_per_s(backend: Backend, args: argparse.Namespace) -> float:
    """Workers send until ``args.seconds``, then what is in flight drains: rate over all of it."""
    started = time.monotonic()
    done = await drive(backend, args.workers, seconds=args.seconds, max_tokens=args.max_tokens)
    return len(done) / (time.monotonic() - started)


async def steering(server: harness.VLLMServer, args: argparse.Namespace) -> dict:
    model = server.model
    fixed_spec = TeacherSpec(model=model, base_url=server.url, max_in_flight=args.workers)
    fixed = OpenAIBackend(fixed_spec)
    await fixed.start()
    queue: list[tuple[float, ServerLoad]] = []
    watcher = asyncio.ensure_future(watch_queue(server.root, 0.5, queue))
    try:
        fixed_rate = await samples_per_s(fixed, args)
    finally:
        watcher.cancel()
        await fixed.close()

    steered_spec = TeacherSpec(
        model=model, base_url=server.url, max_in_flight=args.workers, server_metrics="vllm"
    )
    steered = ReplicaSet(steered_spec)
    await steered.start()
    try:
        steered_rate = await samples_per_s(steered, args)
    finally:
        await steered.close()
    history = list(steered.replicas[0].steering.controller.history)

    print(f"\nin-flight vs server queue (max_num_seqs={args.max_num_seqs}, {args.workers} workers)")
    print(f"{'t s':>6} {'fixed: in-flight':>17} {'running':>8} {'waiting':>8}   "
          f"{'steered: ceiling':>17} {'in-flight':>10} {'running':>8} {'waiting':>8}")  # fmt: skip
    for i in range(max(len(queue), len(history))):
        left = right = ""
        if i < len(queue):
            t, load = queue[i]
            left = f"{t:>6} {args.workers:>17} {load.running:>8.0f} {load.waiting:>8.0f}"
        if i < len(history):
            o = history[i]
            right = f"{o.ceiling:>17} {o.in_flight:>10} {o.running:>8.0f} {o.waiting:>8.0f}"
        print(f"{left:<42}   {right}")

    def mean(values: list[float]) -> float:
        return round(sum(values) / max(len(values), 1), 2)

    return {
        "fixed": {
            "in_flight": args.workers,
            "samples_per_s": round(fixed_rate, 1),
            "mean_waiting": mean([load.waiting for _, load in queue]),
            "mean_running": mean([load.running for _, load in queue]),
        },
        "steered": {
            "final_ceiling": history[-1].ceiling if history else None,
            "samples_per_s": round(steered_rate, 1),
            "mean_waiting": mean([o.waiting for o in history]),
            "mean_running": mean([o.running for o in history]),
        },
        "steered_vs_fixed_throughput": round(steered_rate / max(fixed_rate, 1e-9), 3),
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
    parser.add_argument("--seconds", type=float, default=10.0, help="steering: each run's length")
    parser.add_argument("--server-log", default="/tmp/thoughtmill-bench-vllm-server.log")
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result))
