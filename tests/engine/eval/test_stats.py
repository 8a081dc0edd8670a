"""Statistics: pass@k against brute force, intervals over questions that cover, majority vote
by the math verifier's equivalence, and the paired test's error rates."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from engine.eval import stats
from engine.eval.results import _math_same


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n samples (c of them correct) holding a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_brute_force_enumeration():
    for n in range(1, 11):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert stats.pass_at_k(n, c, k) == pytest.approx(
                    _brute_pass_at_k(n, c, k), abs=1e-12
                )


def test_pass_at_k_curve_averages_questions_up_to_the_smallest_n():
    counts = [(10, 3), (10, 0), (6, 6)]
    curve = stats.pass_at_k_curve(counts)
    assert len(curve) == 6
    for k, value in enumerate(curve, start=1):
        assert value == pytest.approx(sum(_brute_pass_at_k(n, c, k) for n, c in counts) / 3)
    assert curve[0] == pytest.approx((0.3 + 0 + 1) / 3)  # pass@1 is the mean accuracy
    assert stats.pass_at_k_curve([]) == []
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 4, 1)


def test_mean_interval_standard_error_and_determinism():
    rng = np.random.default_rng(1)
    values = rng.random(400)
    interval = stats.mean_interval(values)
    assert interval.mean == pytest.approx(values.mean())
    assert interval.stderr == pytest.approx(values.std(ddof=1) / 20)
    half = (interval.high - interval.low) / 2
    assert half == pytest.approx(1.96 * interval.stderr, rel=0.1)  # near normal for 400 questions
    assert stats.mean_interval(values) == interval  # fixed seed: a report recomputes the same
    single = stats.mean_interval([0.25])
    assert (single.mean, single.stderr, single.low, single.high) == (0.25, 0.0, 0.25, 0.25)


def test_bootstrap_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    truth, trials, covered = 0.3, 200, 0
    for trial in range(trials):
        per_question = rng.binomial(4, truth, size=80) / 4  # 80 questions, n = 4
        interval = stats.mean_interval(per_question, rounds=2000, seed=trial)
        covered += interval.low <= truth <= interval.high
    assert 0.89 <= covered / trials <= 0.99, covered


def test_majority_groups_answers_by_math_equivalence():
    answers = ["3", "\\frac{1}{2}", "0.5", None, "1/2", "3"]
    winner, size = stats.majority(answers, _math_same)
    assert (answers[winner], size) == ("\\frac{1}{2}", 3)
    assert stats.majority(["7", "8", "8", "7"], _math_same) == (0, 2)  # tie: first group formed
    assert stats.majority([None, None], _math_same) == (None, 0)
    assert not _math_same("2", "3") and _math_same("\\sqrt{4}", "2")
    asked = []

    def counted(a: str, b: str) -> bool:
        asked.append((a, b))
        return _math_same(a, b)

    assert stats.majority(["5", "5", "6", "5", "6"], counted) == (0, 3)
    assert asked == [("6", "5"), ("6", "5")]  # equal strings join their group unasked


def test_paired_bootstrap_finds_real_differences_and_not_noise():
    rng = np.random.default_rng(3)
    base = rng.random(150)
    same = stats.paired_bootstrap(base, base)
    assert (same.p_value, same.significant, same.difference.mean) == (1.0, False, 0.0)
    better = np.clip(base + 0.1 + rng.normal(0, 0.05, 150), 0, 1)
    test = stats.paired_bootstrap(better, base)
    assert test.significant and test.p_value < 0.001 and test.difference.mean > 0.05
    false_alarms = 0
    for trial in range(100):  # two runs of one model: differences are noise
        a = rng.binomial(4, base) / 4
        b = rng.binomial(4, base) / 4
        false_alarms += stats.paired_bootstrap(a, b, rounds=1000, seed=trial).significant
    assert false_alarms <= 12, false_alarms  # about 5% expected
    with pytest.raises(ValueError):
        stats.paired_bootstrap([1.0], [1.0, 0.0])


def test_quantiles_of_nothing_are_zero():
    assert stats.quantiles([], [0.5, 0.9]) == [0.0, 0.0]
    assert stats.quantiles([1, 2, 3], [0.5]) == [2.0]
    assert math.isclose(stats.quantiles(list(range(11)), [0.9])[0], 9.0)
