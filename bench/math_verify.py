"""Math verification throughput and correctness: ThoughtMill against Math-Verify, same pairs.

The mix, every response a long reasoning trace (a ``<think>`` block with wrong guesses boxed
along the way, then a worked summary, then the final answer):
- every MATH-500 gold, its equivalent rewritings (sympy's own LaTeX, exact decimals,
  reordered lists) given as the last box, or as a closing "The final answer is ..." phrase
  after an intermediate box; and a wrong one (the gold's value plus one);
- every response of each false-negative class (tests/data/math_pairs.py TRACE_PASS: last
  marker wins, value over a name, several boxes and spans, numbers in text, matrix chains)
  and its near misses (TRACE_FAIL), and the answer-level class groups of the equivalence table
  (named and chained answers, solved inequalities, ratios, percent words, decimal commas) with
  the table's near-miss traps, all inside such traces.
Labels come from how a pair was built, so every disagreement between the two verifiers is shown
with the side that is right.

Rows: ThoughtMill's bare check in this process (one core, the algorithm's cost), the
MathVerifierPool (every check in a worker under its time budget; 1 and 2 workers) on the mix
and on plain integer answers, with the event loop's own CPU per check (medians of --rounds
runs), and Math-Verify (one
core; it needs the main thread for signal.alarm) when `pip install
'math-verify[antlr4_13_2]==0.9.0'` has been done. Then the trap table, for both. Caches start
cold in every timed run.

    python bench/math_verify.py [--data ../shared/data/math/math500.json] [--limit 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file's own folder comes first on sys.path and its name would shadow the math_verify package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from tests.data.math_pairs import (  # noqa: E402
    EQUIVALENT,
    NOT_EQUIVALENT,
    TRACE_FAIL,
    TRACE_PASS,
    TRAPS,
)
from tests.data.math_pairs_rewrites import model_rewrites, wrong_rewrite  # noqa: E402
from verifiers.math import MathVerifierPool  # noqa: E402
from verifiers.math.grade import clear_caches, grade  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "math" / "math500.json"
CLASS_GROUPS = ("named_and_chained", "inequalities_solved", "ratios",
                "percent_and_units_spelled_out", "decimal_commas")  # fmt: skip
SENTENCES = [
    "Let me restate what is given and what is asked.",
    "Setting up the quantities, we write $a_n = a_1 + (n-1)d$ and check small cases.",
    "For $n = 1$ this gives $a_1$, and $n = 2$ gives $a_1 + d$.",
    "Wait, that is not quite what we need, so let me reconsider the constraint.",
    "Combining $x^2 + y^2 = 25$ with $x + y = 7$ we get $xy = 12$.",
    "Squaring both sides, $(x - y)^2 = 49 - 48 = 1$, so $|x - y| = 1$.",
    "Hmm, I should double-check the arithmetic here: $17 \\cdot 23 = 391$.",
    "By symmetry we can assume $x \\ge y$ without loss of generality.",
    "The discriminant is $b^2 - 4ac = 16 - 12 = 4 > 0$, so there are two real roots.",
    "Substituting back, $f(2) = 2^3 - 3 \\cdot 2 + 1 = 3$, which matches.",
    "Let me try a different approach using the substitution $u = x + \\frac{1}{x}$.",
    "So far the candidate is $\\boxed{GUESS}$, but I have not checked the boundary.",
    "Checking the edge case $x = 0$: the expression is undefined there, so exclude it.",
]

Pair = tuple[str, str, bool, str]  # response, gold, label (equivalent?), how it was built


def reasoning_trace(final: str, seed: int, paragraphs: int = 12) -> str:
    """A long trace: thinking with boxed wrong guesses, a summary, then ``final``."""
    rng = random.Random(seed)
    guess = lambda: str(rng.randint(2, 999))  # noqa: E731
    think = "\n\n".join(
        " ".join(rng.choice(SENTENCES) for _ in range(6)).replace("GUESS", guess())
        for _ in range(paragraphs)
    )
    summary = " ".join(rng.choice(SENTENCES[:10]) for _ in range(5))
    return f"<think>\n{think}\n</think>\n\n{summary}\n\n{final}"


def build_mix(data: Path | None, limit: int) -> list[Pair]:
    pairs: list[Pair] = []
    rows = json.loads(data.read_text())[:limit] if data is not None else []
    for index, row in enumerate(rows):
        gold = row["answer"]
        for form in model_rewrites(gold):
            final = f"Therefore, the final answer is $\\boxed{{{form}}}$."
            pairs.append((reasoning_trace(final, index), gold, True, "rewrite"))
        closing = model_rewrites(gold)[-1]
        final = f"First I get $\\boxed{{0}}$. Checking again: the final answer is ${closing}$."
        pairs.append((reasoning_trace(final, index + 1), gold, True, "phrase after a box"))
        wrong = wrong_rewrite(gold)
        if wrong is not None:
            final = f"Therefore, the final answer is $\\boxed{{{wrong}}}$."
            pairs.append((reasoning_trace(final, index + 2), gold, False, "value+1"))
    for label, table in ((True, TRACE_PASS), (False, TRACE_FAIL)):
        for group, cases in table.items():
            for index, (response, gold) in enumerate(cases):
                pairs.append((reasoning_trace(response, index), gold, label, group))
    answer_level = [(True, g, EQUIVALENT[g]) for g in CLASS_GROUPS] + [(False, "traps", TRAPS)]
    for label, group, cases in answer_level:
        for index, (answer, gold) in enumerate(cases):
            final = f"So the answer is $\\boxed{{{answer}}}$."
            pairs.append((reasoning_trace(final, index), gold, label, group))
    return pairs


def integer_pairs(count: int) -> list[Pair]:
    """The friendliest input: short replies ending in a boxed integer, half of them right."""
    return [(f"So the answer is $\\boxed{{{i}}}$.", str(i + i % 2), i % 2 == 0, "integer")
            for i in range(count)]  # fmt: skip


def timed(run: Callable[[], list[bool]]) -> tuple[list[bool], float]:
    started = time.perf_counter()
    results = run()
    return results, time.perf_counter() - started


def in_process(pairs: list[Pair]) -> list[bool]:
    return [grade(response, gold).passed for response, gold, _, _ in pairs]


def pool_run(pairs: list[Pair], workers: int) -> tuple[list[bool], float, float]:
    """(results, seconds, event-loop CPU seconds) of one cold pool's verify_many."""

    async def run() -> tuple[list[bool], float, float]:
        async with MathVerifierPool(workers=workers) as pool:
            cpu, started = time.process_time(), time.perf_counter()
            verdicts = await pool.verify_many([(r, g) for r, g, _, _ in pairs])
            seconds, loop_cpu = time.perf_counter() - started, time.process_time() - cpu
        return [v.passed for v in verdicts], seconds, loop_cpu

    return asyncio.run(run())


def median_of(rounds: int, run: Callable[..., tuple], *args: object) -> tuple:
    """The run with the median time (index 1) of ``rounds`` runs: this machine is noisy."""
    runs = sorted((run(*args) for _ in range(rounds)), key=lambda result: result[1])
    return runs[len(runs) // 2]


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


def _counts(results: list[bool], labels: list[bool]) -> tuple[int, int, float]:
    false_pos = sum(r and not label for r, label in zip(results, labels, strict=True))
    false_neg = sum(label and not r for r, label in zip(results, labels, strict=True))
    return false_pos, false_neg, round(1 - (false_pos + false_neg) / len(labels), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--integers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of ours (median)")
    args = parser.parse_args()
    data = args.data if args.data.is_file() else None
    if data is None:
        print(f"no MATH-500 data at {args.data}: the mix has the class traces only")
    pairs = build_mix(data, args.limit)
    labels = [label for _, _, label, _ in pairs]
    kb = sum(len(r) for r, _, _, _ in pairs) / len(pairs) / 1024
    print(f"mix: {len(pairs)} traces (mean {kb:.1f} KB), {sum(labels)} equivalent, "
          f"{len(pairs) - sum(labels)} not")  # fmt: skip

    grade(r"\boxed{\frac{\cos x}{\sin x}}", r"\cot x")  # sympy loads outside the timing

    def cold_in_process() -> tuple[list[bool], float]:
        clear_caches()
        return timed(lambda: in_process(pairs))

    tm_results, tm_seconds = median_of(args.rounds, cold_in_process)
    rows = [("thoughtmill grade, in process, 1 core", len(pairs) / tm_seconds, tm_results)]
    pool_rows = []
    integers = integer_pairs(args.integers)
    for workload, items in (("traces", pairs), ("integers", integers)):
        for workers in (1, 2):
            results, seconds, loop_cpu = median_of(args.rounds, pool_run, items, workers)
            expected = tm_results if workload == "traces" else [i[2] for i in items]
            assert results == expected, f"the pool disagrees with the in-process check ({workload})"
            pool_rows.append((workload, workers, len(items) / seconds, loop_cpu / len(items)))
            if workload == "traces":
                rows.append((f"thoughtmill MathVerifierPool, {workers} worker(s)",
                             len(items) / seconds, results))  # fmt: skip

    mv = math_verify_runner()
    mv_results: list[bool] | None = None
    if mv is not None:
        mv("$1$", "1")  # import and warm up outside the timing
        mv_results, mv_seconds = timed(lambda: [mv(r, g) for r, g, _, _ in pairs])
        rows.append(("math-verify 0.9.0, 1 core", len(pairs) / mv_seconds, mv_results))

    print(f"\n{'verifier':<46} {'checks/s':>10} {'accuracy':>9} {'false+':>7} {'false-':>7}")
    for name, rate, results in rows:
        false_pos, false_neg, accuracy = _counts(results, labels)
        print(f"{name:<46} {rate:>10.1f} {accuracy:>9.4f} {false_pos:>7} {false_neg:>7}")
    print(f"\n{'pool workload':<14} {'workers':>7} {'checks/s':>10} {'loop CPU us/check':>18}")
    for workload, workers, rate, loop_cpu in pool_rows:
        print(f"{workload:<14} {workers:>7} {rate:>10.1f} {loop_cpu * 1e6:>18.1f}")

    per_class: dict[str, list[int]] = {}
    for (_, _, label, how), ours in zip(pairs, tm_results, strict=True):
        tally = per_class.setdefault(how, [0, 0])
        tally[0] += ours == label
        tally[1] += 1
    print("\nthoughtmill right per class: " + ", ".join(
        f"{how} {right}/{total}" for how, (right, total) in per_class.items()))  # fmt: skip

    tm_traps = trap_false_positives(lambda r, g: grade(r, g).passed)
    summary = {
        "pairs": len(pairs),
        "mean_trace_kb": round(kb, 1),
        "thoughtmill_checks_per_s_1core": round(len(pairs) / tm_seconds, 1),
        "pool_checks_per_s": {f"{w}:{k}": round(r, 1) for k, w, r, _ in pool_rows},
        "pool_loop_cpu_us_per_check": {f"{w}:{k}": round(c * 1e6, 1) for k, w, _, c in pool_rows},
        "thoughtmill_accuracy": _counts(tm_results, labels)[2],
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
            final = response.rsplit("\n\n", 1)[-1][-160:]
            right = "thoughtmill" if ours == label else "math-verify"
            print(f"  [{how}] gold {gold!r} vs ...{final!r}: equivalent={label}, "
                  f"thoughtmill={ours}, math-verify={theirs} -> {right} is right")  # fmt: skip
        summary |= {
            "math_verify_checks_per_s_1core": round(len(pairs) / mv_seconds, 1),
            "speedup_per_core": round(mv_seconds / tm_seconds, 1),
            "agreement": round(1 - len(disagreements) / len(pairs), 4),
            "math_verify_accuracy": _counts(mv_results, labels)[2],
            "math_verify_trap_false_positives": len(mv_traps),
        }
    else:
        print("math-verify is not installed: pip install 'math-verify[antlr4_13_2]' to compare")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
