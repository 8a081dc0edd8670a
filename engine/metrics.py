"""Live job counters: one object the hot path bumps, read by progress, /status and /metrics."""

from __future__ import annotations

import time
from collections import Counter

import msgspec

from engine.looplag import LoopLag, LoopLagStats


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
    eta_s: float | None
    verdicts: dict[str, int]
    failures: dict[str, int]
    loop_lag: LoopLagStats


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
        self.failures: Counter[str] = Counter()
        self.loop_lag = LoopLag()  # measures while entered (``async with``), e.g. by the Job

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

    def prometheus(self) -> str:
        """Prometheus text exposition format (counters and gauges, ``thoughtmill_`` prefix)."""
        s = self.snapshot()
        lines: list[str] = []

        def metric(name: str, kind: str, value: float, labels: str = "") -> None:
            if not labels:
                lines.append(f"# TYPE thoughtmill_{name} {kind}")
            lines.append(f"thoughtmill_{name}{labels} {value}")

        metric("questions_done_total", "counter", s.questions_done)
        metric("samples_written_total", "counter", s.samples_written)
        metric("requests_total", "counter", s.requests)
        metric("retries_total", "counter", s.retries)
        metric("rate_limited_total", "counter", s.rate_limited)
        metric("server_errors_total", "counter", s.server_errors)
        metric("truncated_total", "counter", s.truncated)
        metric("early_stopped_total", "counter", s.early_stopped)
        metric("prompt_tokens_total", "counter", self.prompt_tokens)
        metric("completion_tokens_total", "counter", self.completion_tokens)
        metric("in_flight", "gauge", s.in_flight)
        lines.append("# TYPE thoughtmill_event_loop_lag_seconds gauge")
        lag = s.loop_lag
        for quantile, ms in (("0.5", lag.p50_ms), ("0.99", lag.p99_ms), ("1", lag.max_ms)):
            metric("event_loop_lag_seconds", "gauge", ms / 1000, f'{{quantile="{quantile}"}}')
        lines.append("# TYPE thoughtmill_verdicts_total counter")
        for status, count in sorted(s.verdicts.items()):
            metric("verdicts_total", "counter", count, f'{{status="{status}"}}')
        lines.append("# TYPE thoughtmill_failures_total counter")
        for kind, count in sorted(s.failures.items()):
            metric("failures_total", "counter", count, f'{{kind="{kind}"}}')
        return "\n".join(lines) + "\n"
