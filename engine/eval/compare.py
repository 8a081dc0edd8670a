"""``eval compare A B``: per-benchmark differences of two evals, paired over shared questions.

Each question's accuracy (its share of correct samples) in A minus that in B, resampled over
questions (paired bootstrap): the difference is significant when its 95% interval excludes 0.
Only questions both runs scored are compared; differing sampling settings are named.
"""

from __future__ import annotations

import msgspec

from engine.eval.results import Results
from engine.eval.stats import PairedTest, paired_bootstrap


class Difference(msgspec.Struct):
    benchmark: str
    a: float
    b: float
    test: PairedTest
    settings_differ: list[str]  # sampling keys (and n) whose values differ between the runs


class Comparison(msgspec.Struct):
    a_model: str
    b_model: str
    differences: list[Difference]
    only_in_a: list[str]
    only_in_b: list[str]


def compare(a: Results, b: Results) -> Comparison:
    by_name = {r.name: r for r in b.benchmarks}
    differences = []
    for left in a.benchmarks:
        right = by_name.get(left.name)
        if right is None:
            continue
        shared = [
            q
            for q, (_, scored) in left.per_question.items()
            if scored and right.per_question.get(q, [0, 0])[1]
        ]
        if not shared:
            continue
        score_a = [left.per_question[q][0] / left.per_question[q][1] for q in shared]
        score_b = [right.per_question[q][0] / right.per_question[q][1] for q in shared]
        differ = [k for k in left.sampling if left.sampling[k] != right.sampling.get(k)]
        if left.n != right.n:
            differ.append("n")
        differences.append(
            Difference(
                benchmark=left.name,
                a=sum(score_a) / len(shared),
                b=sum(score_b) / len(shared),
                test=paired_bootstrap(score_a, score_b),
                settings_differ=differ,
            )
        )
    names_a = {r.name for r in a.benchmarks}
    return Comparison(
        a_model=str(a.model.get("model", "?")),
        b_model=str(b.model.get("model", "?")),
        differences=differences,
        only_in_a=sorted(names_a - by_name.keys()),
        only_in_b=sorted(by_name.keys() - names_a),
    )


def table(comparison: Comparison) -> str:
    """The comparison as aligned text lines."""
    lines = [
        f"A: {comparison.a_model}   B: {comparison.b_model}",
        f"{'benchmark':<16} {'questions':>9} {'A %':>7} {'B %':>7} {'A-B pts':>8} "
        f"{'95% interval':>16} {'p':>7}  verdict",
    ]
    for d in comparison.differences:
        i = d.test.difference
        verdict = "significant" if d.test.significant else "not significant"
        if d.settings_differ:
            verdict += f" (settings differ: {', '.join(d.settings_differ)})"
        lines.append(
            f"{d.benchmark:<16} {d.test.questions:>9} {100 * d.a:>7.1f} {100 * d.b:>7.1f} "
            f"{100 * i.mean:>+8.1f} {f'[{100 * i.low:+.1f}, {100 * i.high:+.1f}]':>16} "
            f"{d.test.p_value:>7.4f}  {verdict}"
        )
    for side, names in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if names:
            lines.append(f"only in {side}: {', '.join(names)}")
    return "\n".join(lines)
