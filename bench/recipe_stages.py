"""Throughput and peak memory of the recipe's streaming stages: decontamination and dedup.

Synthetic questions (Zipf-distributed words drawn from the benchmarks' own vocabulary plus
invented words, 20-150 words each) carry planted cases: exact duplicates (case and spacing
changed), near duplicates (two words edited in a long question) and contaminated questions
(a benchmark problem with a prefix, or with one word edited). Each stage runs at each size in
a fresh process, so its peak RSS is its own; "generate" (producing the questions, no stage) is
the memory baseline. Rates are compared with baselines measured in the same run on a sample:
pairwise fuzzy matching against every benchmark item (what the index avoids), and datasketch's
MinHash + MinHashLSH (what the vectorized near dedup replaces).

    python bench/recipe_stages.py                    # 100k and 1M questions
    python bench/recipe_stages.py --sizes 20000      # quick look
    python bench/recipe_stages.py --sizes 1000000 --stages generate,dedup_near
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.decont import Decontaminator  # noqa: E402
from engine.decont.text import joined, words  # noqa: E402
from engine.dedup import Dedup  # noqa: E402
from engine.records import Question  # noqa: E402
from engine.sources import Source  # noqa: E402
from engine.specs import (  # noqa: E402
    DecontSpec,
    DedupSpec,
    FieldMap,
    SourceSpec,
)

BATCH = 512
SAMPLE = 2000  # questions timed through each baseline
STAGES = ["generate", "decont", "dedup_exact", "dedup_near", "pairwise_fuzzy", "datasketch_near"]


def shared_data() -> Path:
    override = os.environ.get("THOUGHTMILL_SHARED_DATA")
    return Path(override) if override else ROOT.parent / "shared" / "data"


def benchmark_specs() -> list[SourceSpec]:
    """The eval sets from ../shared/data when present, else the fixture the tests use."""
    data = shared_data()
    found = [
        SourceSpec(name=name, domain=domain, path=str(data / file))
        for name, domain, file in [
            ("math500", "math", "math/math500.json"),
            ("aime2024", "math", "math/aime2024.json"),
            ("amc", "math", "math/amc.json"),
            ("leetcode", "code", "code/leetcode.json"),
        ]
        if (data / file).is_file()
    ]
    fixture = ROOT / "tests" / "data" / "decont_benchmark.jsonl"
    return found or [
        SourceSpec(name="fixture", domain="math", path=str(fixture), fields=FieldMap(id="id"))
    ]


class Synthetic:
    """A deterministic stream of questions with planted duplicates and contamination."""

    def __init__(self, size: int, benchmarks: list[Question], seed: int = 0) -> None:
        self.size, self.benchmarks = size, benchmarks
        self.rng = random.Random(seed)
        counts = Counter(w.decode() for q in benchmarks for w in words(q.problem))
        vocab = [w for w, _ in counts.most_common()]
        vocab += [f"{a}{b}{c}" for a in "bcdfgklmnprstvz" for b in "aeiou" for c in "lmnrstx"]
        vocab += [str(n) for n in range(1000)]
        self.rng.shuffle(vocab)
        self.vocab = vocab
        self.cum_weights = list(_accumulate(1.0 / rank for rank in range(1, len(vocab) + 1)))

    def _text(self) -> str:
        length = self.rng.randint(20, 150)
        return " ".join(self.rng.choices(self.vocab, cum_weights=self.cum_weights, k=length))

    def _edit(self, text: str, edits: int) -> str:
        tokens = text.split()
        for _ in range(edits):
            tokens[self.rng.randrange(len(tokens))] = "edited"
        return " ".join(tokens)

    def __iter__(self) -> Iterator[tuple[Question, str]]:
        """Yields ``(question, planted kind)``; kind is "" for an ordinary question."""
        recent: deque[str] = deque(maxlen=1000)
        for number in range(self.size):
            roll = self.rng.random()
            if roll < 0.01 and recent:
                text, kind = self.rng.choice(recent).upper().replace(" ", "  "), "exact"
            elif roll < 0.02 and recent:
                long = [t for t in list(recent)[-50:] if len(t.split()) >= 100]
                text, kind = (self._edit(long[-1], 2), "near") if long else (self._text(), "")
            elif roll < 0.021:
                item = self.rng.choice(self.benchmarks).problem
                if self.rng.random() < 0.5:
                    text = f"Solve the following problem. {item}"
                else:
                    text = self._edit(item, 1) if len(item.split()) > 20 else item
                kind = "contaminated"
            else:
                text, kind = self._text(), ""
            recent.append(text)
            yield Question(id=f"syn:{number}", domain="math", source="syn", problem=text), kind


def _accumulate(values: Iterator[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def batches(stream: Iterator[tuple[Question, str]], limit: int | None = None):
    chunk: list[tuple[Question, str]] = []
    for count, pair in enumerate(stream):
        if limit is not None and count >= limit:
            break
        chunk.append(pair)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_stage(stage: str, size: int) -> dict:
    """Time one stage over ``size`` questions (the baselines over a sample of them)."""
    specs = benchmark_specs()
    bench_questions = [q for spec in specs for q in Source(spec)]
    stream = iter(Synthetic(size, bench_questions))
    limit = min(size, SAMPLE) if stage in ("pairwise_fuzzy", "datasketch_near") else None
    check = _stage_function(stage, specs, bench_questions)
    planted, caught, false_drops, seen, seconds = Counter(), Counter(), 0, 0, 0.0
    for chunk in batches(stream, limit):
        questions = [q for q, _ in chunk]
        started = time.perf_counter()
        drops = check(questions)
        seconds += time.perf_counter() - started
        seen += len(chunk)
        for (_, kind), dropped in zip(chunk, drops, strict=True):
            planted[kind] += 1
            if dropped:
                caught[kind] += 1
                false_drops += kind == ""
    return {
        "stage": stage,
        "size": size,
        "timed": seen,
        "seconds": round(seconds, 3),
        "questions_per_s": round(seen / seconds) if stage != "generate" else None,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "planted": {k or "ordinary": v for k, v in planted.items()},
        "dropped": {k or "ordinary": v for k, v in caught.items()},
        "false_drops": false_drops,
        "benchmark_items": len(bench_questions),
    }


def _stage_function(stage: str, specs: list[SourceSpec], bench_questions: list[Question]):
    if stage == "generate":
        return lambda questions: [False] * len(questions)
    if stage == "decont":
        decont = Decontaminator(DecontSpec(benchmarks=specs))
        return lambda questions: [decont(q) is not None for q in questions]
    if stage in ("dedup_exact", "dedup_near"):
        dedup = Dedup(DedupSpec(exact=True, near=stage == "dedup_near"))
        return lambda questions: [d is not None for d in dedup.batch(questions)]
    if stage == "pairwise_fuzzy":
        return _pairwise_fuzzy(bench_questions)
    if stage == "datasketch_near":
        return _datasketch_near()
    raise SystemExit(f"unknown stage {stage!r}")


def _pairwise_fuzzy(bench_questions: list[Question]):
    """Baseline: each question scored with rapidfuzz against every benchmark item."""
    from rapidfuzz import fuzz, process

    choices = [joined(words(q.problem)) for q in bench_questions]

    def check(questions: list[Question]) -> list[bool]:
        return [
            process.extractOne(
                joined(words(q.problem)), choices, scorer=fuzz.ratio, score_cutoff=95.0
            )
            is not None
            for q in questions
        ]

    return check


def _datasketch_near():
    """Baseline: datasketch MinHash over the same word 3-shingles, queried in MinHashLSH."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=0.8, num_perm=128)

    def check(questions: list[Question]) -> list[bool]:
        verdicts = []
        for q in questions:
            tokens = words(q.problem)
            minhash = MinHash(num_perm=128)
            minhash.update_batch(
                [b" ".join(tokens[i : i + 3]) for i in range(max(1, len(tokens) - 2))]
            )
            duplicate = bool(lsh.query(minhash))
            if not duplicate:
                lsh.insert(q.id, minhash)
            verdicts.append(duplicate)
        return verdicts

    return check


def measure(stage: str, size: int) -> dict:
    """Run one stage in a fresh interpreter so its peak RSS is its own."""
    command = [sys.executable, __file__, "--worker", stage, str(size)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{stage} at {size} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages")
    parser.add_argument("--worker", nargs=2, metavar=("STAGE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_stage(args.worker[0], int(args.worker[1]))))
        return
    results = []
    print(f"{'stage':<16}{'size':>9}{'timed':>9}{'q/s':>10}{'peak MiB':>10}{'x base':>8}  dropped")
    for size in (int(s) for s in args.sizes.split(",")):
        rows = {stage: measure(stage, size) for stage in args.stages.split(",")}
        base_rss = rows["generate"]["peak_rss_mib"] if "generate" in rows else None
        baselines = {"decont": "pairwise_fuzzy", "dedup_near": "datasketch_near"}
        for stage, row in rows.items():
            over = None if base_rss is None else round(row["peak_rss_mib"] - base_rss, 1)
            row["rss_over_generate_mib"] = over
            base = rows.get(baselines.get(stage, ""))
            row["speedup"] = (
                round(row["questions_per_s"] / base["questions_per_s"], 1) if base else None
            )
            speedup = f"{row['speedup']}x" if row["speedup"] else "-"
            print(
                f"{stage:<16}{size:>9}{row['timed']:>9}{row['questions_per_s'] or '-':>10}"
                f"{row['peak_rss_mib']:>10}{speedup:>8}  {row['dropped']}"
            )
            results.append(row)
    print(json.dumps({"bench": "recipe_stages", "results": results}))


if __name__ == "__main__":
    main()
