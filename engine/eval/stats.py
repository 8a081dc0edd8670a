"""Statistics of an eval, over questions (the unit that was sampled), not over samples.

Every interval resamples questions, since the n samples of one question are not independent.
Bootstraps use a fixed seed so that recomputing a report gives the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import msgspec
import numpy as np

BOOTSTRAP_ROUNDS = 10_000
BOOTSTRAP_SEED = 0
LEVEL = 0.95


class Interval(msgspec.Struct):
    """A mean with its standard error and a percentile bootstrap interval."""

    mean: float
    stderr: float
    low: float
    high: float


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one question with ``c`` correct of ``n`` samples (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k), computed as a product so large n stays exact enough."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / j for j in range(n - c + 1, n + 1))


def pass_at_k_curve(counts: Sequence[tuple[int, int]]) -> list[float]:
    """Mean pass@k over questions for k = 1 .. the smallest n, from (n, c) per question."""
    if not counts:
        return []
    top = min(n for n, _ in counts)
    return [sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) for k in range(1, top + 1)]


def _bootstrap_means(values: np.ndarray, rounds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(rounds, len(values)))
    return values[picks].mean(axis=1)


def mean_interval(
    values: Sequence[float], *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED
) -> Interval:
    """Mean of per-question values, its standard error, and a 95% bootstrap interval."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ValueError("no values")
    mean = float(array.mean())
    if array.size == 1:
        return Interval(mean, 0.0, mean, mean)
    stderr = float(array.std(ddof=1) / math.sqrt(array.size))
    means = _bootstrap_means(array, rounds, seed)
    tail = (1 - LEVEL) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(mean, stderr, float(low), float(high))


class PairedTest(msgspec.Struct):
    """Paired bootstrap over questions of the difference A - B of per-question accuracy."""

    questions: int
    difference: Interval
    p_value: float  # two-sided: how often the resampled difference falls on the far side of 0
    significant: bool  # the 95% interval excludes 0


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    seed: int = BOOTSTRAP_SEED,
) -> PairedTest:
    """Test A against B on the same questions (``a[i]`` and ``b[i]`` are question i's scores)."""
    if len(a) != len(b):
        raise ValueError(f"paired values differ in length: {len(a)} and {len(b)}")
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    interval = mean_interval(diff, rounds=rounds, seed=seed)
    if diff.size < 2 or not diff.any():
        return PairedTest(int(diff.size), interval, 1.0, False)
    means = _bootstrap_means(diff, rounds, seed)
    p = 2 * min(float((means <= 0).mean()), float((means >= 0).mean()))
    significant = interval.low > 0 or interval.high < 0
    return PairedTest(int(diff.size), interval, min(1.0, p), significant)


def majority(
    answers: Sequence[str | None], same: Callable[[str, str], bool]
) -> tuple[int | None, int]:
    """Majority vote over answers grouped by ``same`` (an equivalence such as the math
    verifier's): (index of the first answer of the winning group, its size). Each answer
    joins the first group whose first member it equals; ties go to the group that formed
    first. ``None`` answers do not vote; (None, 0) when none does. Equal strings are the same
    answer without asking ``same`` (most samples of a question agree, and asking is slow)."""
    groups: list[list[int]] = []
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            first = answers[group[0]]
            if answer == first or same(answer, first):  # type: ignore[arg-type]
                group.append(index)
                break
        else:
            groups.append([index])
    if not groups:
        return None, 0
    best = max(groups, key=len)  # max keeps the first of equal sizes
    return best[0], len(best)


def quantiles(values: Sequence[float], points: Sequence[float]) -> list[float]:
    if not values:
        return [0.0 for _ in points]
    return [float(q) for q in np.quantile(np.asarray(values, dtype=float), points)]
