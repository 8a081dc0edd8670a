"""The driver's live counters: the sum of its workers' (each a partition's Job.metrics),
polled, so progress, /status and /metrics at the driver read one Metrics as for one process."""

from __future__ import annotations

import os
from collections import Counter

import msgspec

from engine.metrics import Histogram, Metrics

_SCALARS = (
    "questions_done", "samples_written", "samples_skipped_resume", "requests", "in_flight",
    "retries", "rate_limited", "server_errors", "truncated", "early_stopped", "prompt_tokens",
    "completion_tokens", "cost_usd",
)  # fmt: skip
_BY_LABEL = ("request_seconds", "completion_tokens_by_domain", "verify_seconds")


class Counters(msgspec.Struct, array_like=True):
    """A worker's Metrics as plain values; ``pid``: the worker process's (a restarted worker
    counts from zero again)."""

    pid: int
    state: str
    questions_total: int | None
    scalars: list[float]
    verdicts: list[tuple[str, str, int]]  # (domain, status, count)
    failures: dict[str, int]
    histograms: dict[str, dict[str, tuple[list[int], float]]]  # family -> label -> (counts, sum)
    question_seconds: tuple[list[int], float]


def counters_of(metrics: Metrics) -> Counters:
    return Counters(
        os.getpid(),
        metrics.state,
        metrics.questions_total,
        [getattr(metrics, name) for name in _SCALARS],
        [(d, s, n) for (d, s), n in metrics.verdicts_by_domain.items()],
        dict(metrics.failures),
        {
            family: {label: (h.counts, h.sum) for label, h in getattr(metrics, family).items()}
            for family in _BY_LABEL
        },
        (metrics.question_seconds.counts, metrics.question_seconds.sum),
    )


def banked(counters: Counters) -> Counters:
    """The last counters of a worker that died: what it did stays counted, nothing of it is
    in flight, and its restarted successor reports the partition's total."""
    scalars = list(counters.scalars)
    scalars[_SCALARS.index("in_flight")] = 0
    return msgspec.structs.replace(counters, state="died", questions_total=0, scalars=scalars)


def _add(histogram: Histogram, counts: list[int], total: float) -> None:
    histogram.counts = [a + b for a, b in zip(histogram.counts, counts, strict=True)]
    histogram.sum += total


def set_sum(target: Metrics, parts: list[Counters], state: str) -> None:
    """Make ``target``'s counters the sum of ``parts`` (its gauges and loop lag stay its own)."""
    fresh = Metrics()
    for name in _SCALARS:
        setattr(target, name, sum(part.scalars[_SCALARS.index(name)] for part in parts))
    totals = [part.questions_total for part in parts]
    target.questions_total = None if None in totals or not totals else sum(totals)  # type: ignore[arg-type]
    target.verdicts, target.verdicts_by_domain = Counter(), Counter()
    target.failures = Counter()
    for part in parts:
        for domain, status, count in part.verdicts:
            target.verdicts[status] += count
            target.verdicts_by_domain[domain, status] += count
        target.failures.update(part.failures)
    for family in _BY_LABEL:
        summed = getattr(fresh, family)
        for part in parts:
            for label, (counts, total) in part.histograms[family].items():
                _add(summed[label], counts, total)
        setattr(target, family, summed)
    target.question_seconds = fresh.question_seconds
    for part in parts:
        _add(target.question_seconds, *part.question_seconds)
    target.state = state
