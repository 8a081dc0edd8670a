"""Live job counters: one object the hot path bumps, read by progress, /status and /metrics."""

from __future__ import annotations

import bisect
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import NamedTuple

import msgspec

from engine.looplag import LoopLag, LoopLagStats
from engine.records import ModelUsage


class Snapshot(msgspec.Struct):
    """What /status returns and the progress line shows."""

    state: str
    elapsed_s: float
    questions_total: int | None
    questions_done: int
    samples_written: int
    samples_skipped_resume: int
    requests: int
    requests_per_s: float
    samples_per_s: float
    prompt_tokens_per_s: float
    completion_tokens_per_s: float
    in_flight: int
    retries: int
    rate_limited: int
    server_errors: int
    truncated: int
    early_stopped: int
    passed: int
    verified: int
    pass_rate: float | None
    pass_rate_by_domain: dict[str, float]
    cost_usd: float
    eta_s: float | None
    verdicts: dict[str, int]
    failures: dict[str, int]
    loop_lag: LoopLagStats


# Bucket upper edges of the histograms (seconds, tokens); the last bucket is +Inf.
LATENCY_EDGES = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TOKEN_EDGES = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
VERIFY_EDGES = (0.001, 0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30)


class Histogram:
    """Counts per bucket and the sum of what was observed: a bisect and two additions."""

    def __init__(self, edges: tuple[float, ...]):
        self.edges = edges
        self.counts = [0] * (len(edges) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.edges, value)] += 1
        self.sum += value


class LiveGauge(NamedTuple):
    help: str
    label: str
    read: Callable[[], dict[str, float]]


def histograms(edges: tuple[float, ...]) -> defaultdict[str, Histogram]:
    """Histograms by one label value, made on first use."""
    return defaultdict(lambda: Histogram(edges))


class Metrics:
    """Counters of one job. Attribute increments only: cheap enough for every request."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.state = "starting"
        self.questions_total: int | None = None
        self.questions_done = 0
        self.samples_written = 0
        self.samples_skipped_resume = 0
        self.requests = 0
        self.in_flight = 0
        self.retries = 0
        self.rate_limited = 0
        self.server_errors = 0
        self.truncated = 0
        self.early_stopped = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.verdicts: Counter[str] = Counter()
        self.verdicts_by_domain: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[str] = Counter()
        self.prices: dict[str, tuple[float, float]] = {}  # model -> USD per 1M (input, output)
        self.cost_usd = 0.0
        self.usage: defaultdict[str, ModelUsage] = defaultdict(ModelUsage)  # by model
        self.request_seconds = histograms(LATENCY_EDGES)  # by model
        self.question_seconds = Histogram(LATENCY_EDGES)  # first request to last sample written
        self.completion_tokens_by_domain = histograms(TOKEN_EDGES)
        self.verify_seconds = histograms(VERIFY_EDGES)  # by domain
        self._question_started: dict[str, float] = {}  # of questions being sampled
        self.gauges: dict[str, LiveGauge] = {}  # read at every scrape (queues)
        # (backend, replica) -> its in-flight limit now (AIMD, or steered by the server)
        self.concurrency_limits: dict[tuple[str, str], Callable[[], float]] = {}
        self.loop_lag = LoopLag()  # measures while entered (``async with``), e.g. by the Job

    def gauge(self, name: str, help: str, label: str, read: Callable[[], dict[str, float]]) -> None:
        """Register a value read when /metrics is scraped, e.g. queue depths by stage."""
        self.gauges[name] = LiveGauge(help, label, read)

    def question_requested(self, question_id: str) -> None:
        """A request for the question is sent: its clock starts at the first one."""
        self._question_started.setdefault(question_id, time.monotonic())

    def question_written(self, question_id: str) -> None:
        """The question's last sample is written: observe its time since the first request."""
        if (started := self._question_started.pop(question_id, None)) is not None:
            self.question_seconds.observe(time.monotonic() - started)

    def count_verdict(self, domain: str, status: str) -> None:
        self.verdicts[status] += 1
        self.verdicts_by_domain[domain, status] += 1

    def count_usage(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        """Tokens of one reply, and what they cost at the model's price (when one is set)."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        usage = self.usage[model]
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        if (price := self.prices.get(model)) is not None:
            cost = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6
            self.cost_usd += cost
            usage.cost_usd += cost

    def pass_rates(self) -> dict[str, float]:
        """Passed over verified (infra_error excluded) per domain."""
        verified: Counter[str] = Counter()
        passed: Counter[str] = Counter()
        for (domain, status), count in self.verdicts_by_domain.items():
            if status != "infra_error":
                verified[domain] += count
            if status == "passed":
                passed[domain] += count
        return {d: round(passed[d] / n, 4) for d, n in verified.items() if n}

    def snapshot(self) -> Snapshot:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        verified = sum(self.verdicts.values()) - self.verdicts.get("infra_error", 0)
        passed = self.verdicts.get("passed", 0)
        eta = None
        if self.questions_total and self.questions_done:
            remaining = max(self.questions_total - self.questions_done, 0)
            eta = remaining * elapsed / self.questions_done
        return Snapshot(
            state=self.state,
            elapsed_s=round(elapsed, 3),
            questions_total=self.questions_total,
            questions_done=self.questions_done,
            samples_written=self.samples_written,
            samples_skipped_resume=self.samples_skipped_resume,
            requests=self.requests,
            requests_per_s=round(self.requests / elapsed, 2),
            samples_per_s=round(self.samples_written / elapsed, 2),
            prompt_tokens_per_s=round(self.prompt_tokens / elapsed, 1),
            completion_tokens_per_s=round(self.completion_tokens / elapsed, 1),
            in_flight=self.in_flight,
            retries=self.retries,
            rate_limited=self.rate_limited,
            server_errors=self.server_errors,
            truncated=self.truncated,
            early_stopped=self.early_stopped,
            passed=passed,
            verified=verified,
            pass_rate=round(passed / verified, 4) if verified else None,
            pass_rate_by_domain=self.pass_rates(),
            cost_usd=round(self.cost_usd, 6),
            eta_s=round(eta, 1) if eta is not None else None,
            verdicts=dict(self.verdicts),
            failures=dict(self.failures),
            loop_lag=self.loop_lag.stats(),
        )

    def progress_line(self) -> str:
        s = self.snapshot()
        total = f"/{s.questions_total}" if s.questions_total else ""
        rate = f"{100 * s.pass_rate:.1f}%" if s.pass_rate is not None else "-"
        eta = f"{s.eta_s:.0f}s" if s.eta_s is not None else "-"
        return (
            f"questions {s.questions_done}{total}  samples {s.samples_written}  "
            f"req/s {s.requests_per_s:.0f}  tok/s {s.completion_tokens_per_s:.0f}  "
            f"in-flight {s.in_flight}  retries {s.retries}  429s {s.rate_limited}  "
            f"pass {rate}  eta {eta}"
        )
