"""Math verification throughput and correctness: ThoughtMill against Math-Verify, same pairs.

The mix: every MATH-500 gold against reasoning-style responses ending in a boxed answer; most
are equivalent rewritings of the gold (sympy's own LaTeX, exact decimals, reordered lists), the
rest are wrong (the gold's value plus one, or the next problem's gold). Labels come from how a
pair was built, so every disagreement between the two verifiers is shown with the side that is
right. Rows: ThoughtMill sequentially in one process (one core), over all cores (one process
per core), the asyncio pool's verify_many, and Math-Verify (one core; it needs the main thread
for signal.alarm) when `pip install 'math-verify[antlr4_13_2]'` has been done. Then the trap
table, for both. Caches start cold in every timed run.

    python bench/math_verify.py [--data ../shared/data/math/math500.json] [--limit 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file's own folder comes first on sys.path and its name would shadow the math_verify package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from tests.data.math_pairs import NOT_EQUIVALENT, TRAPS  # noqa: E402
from tests.data.math_pairs_rewrites import model_rewrites, wrong_rewrite  # noqa: E402
from verifiers import math as tm  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "math" / "math500.json"
FILLER = (
    "Let me think about this carefully. First, I restate what is given and what is asked. "
    "Setting up the quantities, we write $a_n = a_1 + (n-1)d$ and check small cases: "
    "$n = 1$ gives $a_1$, $n = 2$ gives $a_1 + d$. Wait, that is not quite what we need, so "
    "let me reconsider the constraint $x^2 + y^2 = 25$ together with $x + y = 7$. "
)

Pair = tuple[str, str, bool, str]  # response, gold, label (equivalent?), how it was built


def build_mix(data: Path, limit: int) -> list[Pair]:
    pairs: list[Pair] = []
    for row in json.loads(data.read_text())[:limit]:
        gold = row["answer"]
        trace = f"{row['problem']}\n\n{FILLER * 4}\n\nTherefore, the final answer is "
        for form in model_rewrites(gold):
            pairs.append((f"{trace}$\\boxed{{{form}}}$.", gold, True, "rewrite"))
        wrong = wrong_rewrite(gold)
        if wrong is not None:
            pairs.append((f"{trace}$\\boxed{{{wrong}}}$.", gold, False, "value+1"))
    return pairs


def timed(run: Callable[[], list[bool]]) -> tuple[list[bool], float]:
    started = time.perf_counter()
    results = run()
    return results, time.perf_counter() - started


def thoughtmill_sequential(pairs: list[Pair]) -> list[bool]:
    return [tm.verify(response, gold).passed for response, gold, _, _ in pairs]


def _start_sympy_workers() -> None:
    tm.verify(r"\boxed{\frac{\cos x}{\sin x}}", r"\cot x")


def _shard(pairs: list[Pair]) -> list[bool]:
    tm.clear_caches()
    return thoughtmill_sequential(pairs)


def thoughtmill_all_cores(pairs: list[Pair], processes: int) -> tuple[list[bool], float]:
    size = -(-len(pairs) // processes)  # contiguous blocks keep a gold's pairs together
    shards = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    with multiprocessing.get_context("spawn").Pool(processes, _start_sympy_workers) as pool:
        pool.map(_shard, [pairs[:1]] * processes)  # wait until every process is up
        results, seconds = timed(lambda: pool.map(_shard, shards))
    return [result for shard in results for result in shard], seconds


def thoughtmill_async(pairs: list[Pair], workers: int) -> tuple[list[bool], float]:
    async def run() -> tuple[list[bool], float]:
        async with tm.MathVerifierPool(workers=workers) as pool:
            tm.clear_caches()
            started = time.perf_counter()
            verdicts = await pool.verify_many([(r, g) for r, g, _, _ in pairs])
            return [v.passed for v in verdicts], time.perf_counter() - started

    return asyncio.run(run())


def math_verify_runner() -> Callable[[str, str], bool] | None:
    try:
        from math_verify import parse, verify
    except ImportError:
        return None

    def check(response: str, gold: str) -> bool:
        return bool(verify(parse(f"${gold}$"), parse(response)))

    return check


def trap_false_positives(check: Callable[[str, str], bool]) -> list[tuple[str, str]]:
    pairs = [pair for group in NOT_EQUIVALENT.values() for pair in group]
    return [(r, g) for r, g in pairs if check(f"So the answer is $\\boxed{{{r}}}$.", g)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=500)
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"no benchmark data at {args.data} (pass --data PATH to MATH-500 JSON)")
    cores = os.cpu_count() or 1
    pairs = build_mix(args.data, args.limit)
    labels = [label for _, _, label, _ in pairs]
    print(f"mix: {len(pairs)} pairs, {sum(labels)} equivalent, {len(pairs) - sum(labels)} wrong")

    _start_sympy_workers()
    tm.clear_caches()
    tm_results, tm_seconds = timed(lambda: thoughtmill_sequential(pairs))
    all_results, all_seconds = thoughtmill_all_cores(pairs, cores)
    async_results, async_seconds = thoughtmill_async(pairs, cores)
    assert all_results == tm_results == async_results, "ThoughtMill runs disagree"

    rows = [
        ("thoughtmill verify, 1 core", len(pairs) / tm_seconds, tm_results),
        (f"thoughtmill verify, {cores} processes", len(pairs) / all_seconds, all_results),
        (f"thoughtmill MathVerifierPool.verify_many, {cores} workers", len(pairs) / async_seconds,
         async_results),
    ]  # fmt: skip
    mv = math_verify_runner()
    mv_results: list[bool] | None = None
    if mv is not None:
        mv("$1$", "1")  # import and warm up outside the timing
        mv_results, mv_seconds = timed(lambda: [mv(r, g) for r, g, _, _ in pairs])
        rows.append(("math-verify, 1 core", len(pairs) / mv_seconds, mv_results))

    print(f"\n{'verifier':<52} {'checks/s':>10} {'accuracy':>9} {'false+':>7} {'false-':>7}")
    for name, rate, results in rows:
        false_pos = sum(r and not label for r, label in zip(results, labels, strict=True))
        false_neg = sum(label and not r for r, label in zip(results, labels, strict=True))
        accuracy = 1 - (false_pos + false_neg) / len(pairs)
        print(f"{name:<52} {rate:>10.1f} {accuracy:>9.4f} {false_pos:>7} {false_neg:>7}")

    tm_traps = trap_false_positives(lambda r, g: tm.verify(r, g).passed)
    summary = {
        "pairs": len(pairs),
        "thoughtmill_checks_per_s_1core": round(len(pairs) / tm_seconds, 1),
        "thoughtmill_checks_per_s_all_cores": round(len(pairs) / all_seconds, 1),
        "thoughtmill_accuracy": _accuracy(tm_results, labels),
        "thoughtmill_trap_false_positives": len(tm_traps),
        "trap_table_size": sum(map(len, NOT_EQUIVALENT.values())),
        "named_traps": len(TRAPS),
    }
    print(f"\ntrap table: thoughtmill accepts {len(tm_traps)} of {summary['trap_table_size']}")
    for response, gold in tm_traps:
        print(f"  thoughtmill false positive: {response!r} vs {gold!r}")
    if mv is not None and mv_results is not None:
        mv_traps = trap_false_positives(mv)
        print(f"trap table: math-verify accepts {len(mv_traps)}")
        for response, gold in mv_traps:
            print(f"  math-verify false positive: {response!r} vs {gold!r}")
        disagreements = [
            (pair, ours, theirs)
            for pair, ours, theirs in zip(pairs, tm_results, mv_results, strict=True)
            if ours != theirs
        ]
        print(f"\n{len(disagreements)} disagreements (right side by construction of the pair):")
        for (response, gold, label, how), ours, theirs in disagreements:
            answer = response.rsplit("\\boxed{", 1)[1][:-3]
            right = "thoughtmill" if ours == label else "math-verify"
            print(f"  gold {gold!r} vs {how} {answer!r}: equivalent={label}, "
                  f"thoughtmill={ours}, math-verify={theirs} -> {right} is right")  # fmt: skip
        summary |= {
            "math_verify_checks_per_s_1core": round(len(pairs) / mv_seconds, 1),
            "speedup_per_core": round(mv_seconds / tm_seconds, 1),
            "agreement": round(1 - len(disagreements) / len(pairs), 4),
            "math_verify_accuracy": _accuracy(mv_results, labels),
            "math_verify_trap_false_positives": len(mv_traps),
        }
    else:
        print("math-verify is not installed: pip install 'math-verify[antlr4_13_2]' to compare")
    print(json.dumps(summary))


def _accuracy(results: list[bool], labels: list[bool]) -> float:
    return round(sum(r == label for r, label in zip(results, labels, strict=True)) / len(labels), 4)


if __name__ == "__main__":
    main()
