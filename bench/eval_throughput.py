"""Eval launcher throughput: a full offline suite against the mock teacher (with verification),
next to the generation engine running the same number of samples, in the same run.

The suite has a MATH-500-like benchmark (n = 4, difficulty levels), an AIME-like one (n = 8)
and a GPQA-layout one (n = 4, options shuffled per sample, letters verified); the mock answers
math in answer-key mode. The eval's figure covers everything ``python -m engine eval`` does
before its report: freezing each benchmark's questions, one Job per benchmark (its own mock
process, shards, verification), and computing every statistic from the shards (bootstrap
intervals, pass@k, maj@n by math equivalence). The engine's figure is one ``engine run`` Job
over as many math questions and samples. Rounds run back to back; the table shows medians.

    python bench/eval_throughput.py [--questions 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


async def eval_round(root: Path, questions: int) -> tuple[float, float, int]:
    """(samples/s of the eval up to its results, seconds of the results alone, samples)."""
    out = root / "eval-out"
    text, samples = suite_text(root, out, questions)
    suite = parse_suite(text, "bench.toml")
    started = time.perf_counter()
    assert await EvalRun(suite, out).run() == 0
    ran = time.perf_counter()
    results = compute_results(out)
    done = time.perf_counter()
    assert sum(b.scored for b in results.benchmarks) == samples
    return samples / (done - started), done - ran, samples


async def engine_round(root: Path, samples: int) -> float:
    """samples/s of one generation Job over ``samples`` math samples (n = 4)."""
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
    started = time.perf_counter()
    assert await job.run() == 0
    return samples // 4 * 4 / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=1000, help="questions in the suite")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    evals, stats_s, engines = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            rate, seconds, samples = await eval_round(Path(tmp), args.questions)
            evals.append(rate)
            stats_s.append(seconds)
        with tempfile.TemporaryDirectory() as tmp:
            engines.append(await engine_round(Path(tmp), samples))
    ratios = [e / g for e, g in zip(evals, engines, strict=True)]
    result = {
        "questions": args.questions,
        "samples": samples,
        "eval_samples_per_s": statistics.median(evals),
        "engine_samples_per_s": statistics.median(engines),
        "eval_over_engine": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "results_s": statistics.median(stats_s),
    }
    print(f"medians of {args.repeats} rounds, {samples} samples each, {IN_FLIGHT} in flight")
    rows = [("eval suite (3 benchmarks, to results)", result["eval_samples_per_s"]),
            ("engine run (one job, same samples)", result["engine_samples_per_s"])]  # fmt: skip
    for label, rate in rows:
        print(f"{label:<40} {rate:>9.0f} samples/s")
    print(f"{'eval / engine':<40} {result['eval_over_engine']:>9.2f}")
    print(f"{'of which results from shards':<40} {result['results_s']:>9.2f} s")
    print(json.dumps({"bench": "eval_throughput", **result}))


if __name__ == "__main__":
    asyncio.run(main())
