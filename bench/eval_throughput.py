"""Eval launcher throughput: a full offline suite against the mock teacher (with verification),
next to the generation engine running the same number of samples, in the same run.

The suite has a MATH-500-like benchmark (n = 4, difficulty levels), an AIME-like one (n = 8)
and a GPQA-layout one (n = 4, options shuffled per sample, letters verified); the mock answers
math in answer-key mode. The eval's figure covers everything ``python -m engine eval`` does
before its report: freezing each benchmark's questions, starting the suite's one mock process,
one Job per benchmark (shards, verification), and computing every statistic from the shards
(bootstrap intervals, pass@k, maj@n by math equivalence). The engine's figure is one ``engine
run`` Job (with its own mock process) over as many math questions and samples. Rounds alternate;
the table shows medians. Beside samples per second of wall time, samples per CPU second (this
process and its children: the mock, verifier workers) give a figure that machines shared with
other work disturb less.

    python bench/eval_throughput.py [--questions 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import parse_recipe  # noqa: E402
from engine.eval.results import compute_results  # noqa: E402
from engine.eval.runner import EvalRun  # noqa: E402
from engine.eval.suite import parse_suite  # noqa: E402
from engine.job import Job  # noqa: E402

IN_FLIGHT = 256
MOCK = "[mock_teacher]\nanswer_key = true\ncorrect_rate = 0.6\n"


def write_math(path: Path, count: int, start: int = 0) -> Path:
    with path.open("w") as f:
        for i in range(start, start + count):
            row = {"id": f"q{i}", "problem": f"What is {i} times {i % 97 + 2}?",
                   "answer": str(i * (i % 97 + 2)), "level": 1 + i % 5}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    return path


def write_gpqa(path: Path, count: int) -> Path:
    with path.open("w") as f:
        for i in range(count):
            options = [f"{i + k} units" for k in range(4)]
            row = {"Question": f"Which value does quantity {i} take in the reference table?",
                   "Correct Answer": options[0]}  # fmt: skip
            row |= {f"Incorrect Answer {k}": options[k] for k in (1, 2, 3)}
            f.write(json.dumps(row) + "\n")
    return path


def suite_text(root: Path, out: Path, questions: int) -> tuple[str, int]:
    """The suite and its sample count: 60% MATH-500-like, 20% AIME-like, 20% GPQA-like."""
    math500 = write_math(root / "math500.jsonl", questions * 3 // 5)
    aime = write_math(root / "aime.jsonl", questions // 5, start=10**6)
    gpqa = write_gpqa(root / "gpqa.jsonl", questions // 5)
    prompt = 'prompt = { user = "{problem}\\nMark your solution with \\\\boxed\\nAnswer:" }'
    text = f"""name = "bench"
[output]
dir = "{out}"
[model]
max_in_flight = {IN_FLIGHT}
[sampling]
temperature = 0.7
max_tokens = 4096
{MOCK}
[[benchmarks]]
name = "math500"
verifier = "math"
n = 4
{prompt}
data = {{ path = "{math500}", fields = {{ id = "id" }}, difficulty = "level" }}
[[benchmarks]]
name = "aime"
verifier = "math"
n = 8
{prompt}
data = {{ path = "{aime}", fields = {{ id = "id" }} }}
[[benchmarks]]
name = "gpqa"
verifier = "mcq"
n = 4
prompt = {{ user = "Answer with a letter.\\nProblem: {{problem}}\\nAnswer:" }}
data = {{ layout = "gpqa", path = "{gpqa}" }}
"""
    samples = 4 * (questions * 3 // 5) + 8 * (questions // 5) + 4 * (questions // 5)
    return text, samples


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (mock teachers, workers)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def eval_round(root: Path, questions: int) -> tuple[float, float, float, int]:
    """(samples/s of the eval up to its results, samples per CPU second, seconds of the results
    alone, samples)."""
    out = root / "eval-out"
    text, samples = suite_text(root, out, questions)
    suite = parse_suite(text, "bench.toml")
    cpu, started = cpu_seconds(), time.perf_counter()
    assert await EvalRun(suite, out).run() == 0
    ran = time.perf_counter()
    results = compute_results(out)
    done = time.perf_counter()
    assert sum(b.scored for b in results.benchmarks) == samples
    return samples / (done - started), samples / (cpu_seconds() - cpu), done - ran, samples


async def engine_round(root: Path, samples: int) -> tuple[float, float]:
    """(samples/s, samples per CPU second) of one generation Job over ``samples`` math samples
    (n = 4)."""
    questions = write_math(root / "engine.jsonl", samples // 4)
    text = f"""[job]
name = "engine"
[[sources]]
name = "s"
domain = "math"
path = "{questions}"
fields = {{ id = "id" }}
[teacher]
model = "mock"
max_in_flight = {IN_FLIGHT}
[sampling]
n = 4
temperature = 0.7
max_tokens = 4096
[output]
dir = "{root / "engine-out"}"
{MOCK}"""
    job = Job(parse_recipe(text, "engine.toml"))
    cpu, started = cpu_seconds(), time.perf_counter()
    assert await job.run() == 0
    done = samples // 4 * 4
    return done / (time.perf_counter() - started), done / (cpu_seconds() - cpu)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1000, help="questions in the suite")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    evals, eval_cpu, stats_s, engines, engine_cpu = [], [], [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rate, per_cpu, seconds, samples = await eval_round(Path(tmp), args.questions)
            evals.append(rate)
            eval_cpu.append(per_cpu)
            stats_s.append(seconds)
        with tempfile.TemporaryDirectory() as tmp:
            rate, per_cpu = await engine_round(Path(tmp), samples)
            engines.append(rate)
            engine_cpu.append(per_cpu)
    ratios = [e / g for e, g in zip(evals, engines, strict=True)]
    cpu_ratios = [e / g for e, g in zip(eval_cpu, engine_cpu, strict=True)]
    result = {
        "questions": args.questions,
        "samples": samples,
        "eval_samples_per_s": statistics.median(evals),
        "engine_samples_per_s": statistics.median(engines),
        "eval_over_engine": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "eval_samples_per_cpu_s": statistics.median(eval_cpu),
        "engine_samples_per_cpu_s": statistics.median(engine_cpu),
        "eval_over_engine_cpu": statistics.median(cpu_ratios),
        "cpu_ratio_range": [min(cpu_ratios), max(cpu_ratios)],
        "results_s": statistics.median(stats_s),
    }
    print(f"medians of {args.repeats} rounds, {samples} samples each, {IN_FLIGHT} in flight")
    print(f"{'':<40} {'samples/s':>10} {'samples/cpu-s':>14}")
    rows = [
        ("eval suite (3 benchmarks, to results)", "eval"),
        ("engine run (one job, same samples)", "engine"),
    ]
    for label, key in rows:
        wall, cpu = result[f"{key}_samples_per_s"], result[f"{key}_samples_per_cpu_s"]
        print(f"{label:<40} {wall:>10.0f} {cpu:>14.0f}")
    print(f"{'eval / engine':<40} {result['eval_over_engine']:>10.2f} "
          f"{result['eval_over_engine_cpu']:>14.2f}")  # fmt: skip
    print(f"{'of which results from shards':<40} {result['results_s']:>9.2f}s")
    print(json.dumps({"bench": "eval_throughput", **result}))


if __name__ == "__main__":
    asyncio.run(main())
