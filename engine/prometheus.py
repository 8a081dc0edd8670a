"""``/metrics``: the job's counters, gauges and histograms in the Prometheus text format, made
by prometheus-client from engine.metrics at each scrape (the hot path only bumps plain
attributes). Names follow Prometheus conventions: ``thoughtmill_`` prefix, base units,
``_total`` on counters."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from engine.metrics import Histogram, Metrics

PREFIX = "thoughtmill_"


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    cumulative, buckets = 0, []
    for edge, count in zip((*histogram.edges, float("inf")), histogram.counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if edge == float("inf") else f"{edge:g}", cumulative))
    return buckets


class JobCollector:
    """Reads one job's Metrics whenever the registry is collected."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        counters = (
            ("questions_done", "Questions with every sample written", m.questions_done),
            ("samples_written", "Samples written this run", m.samples_written),
            (
                "samples_skipped_resume",
                "Samples found already written at start",
                m.samples_skipped_resume,
            ),
            ("requests", "Teacher and scorer requests sent (attempts)", m.requests),
            ("retries", "Requests retried after a retryable failure", m.retries),
            ("rate_limited", "429 replies", m.rate_limited),
            ("server_errors", "5xx replies", m.server_errors),
            ("truncated", "Completions cut at max_tokens", m.truncated),
            ("early_stopped", "Samples not requested after enough passed", m.early_stopped),
            ("prompt_tokens", "Prompt tokens reported by the backends", m.prompt_tokens),
            (
                "completion_tokens",
                "Completion tokens reported by the backends",
                m.completion_tokens,
            ),
        )
        for name, help, value in counters:
            yield CounterMetricFamily(PREFIX + name, help, value=value)
        cost = CounterMetricFamily(
            PREFIX + "cost_usd",
            "Cost of the tokens at the recipe's prices, US dollars, by model",
            labels=["model"],
        )
        for model, usage in sorted(m.usage.items()):
            cost.add_metric([model], usage.cost_usd)
        yield cost
        verdicts = CounterMetricFamily(
            PREFIX + "verdicts", "Verdicts by domain and status", labels=["domain", "status"]
        )
        for (domain, status), count in sorted(m.verdicts_by_domain.items()):
            verdicts.add_metric([domain, status], count)
        yield verdicts
        failures = CounterMetricFamily(
            PREFIX + "failures", "Samples that failed, by reason", labels=["reason"]
        )
        for reason, count in sorted(m.failures.items()):
            failures.add_metric([reason], count)
        yield failures

        yield GaugeMetricFamily(PREFIX + "in_flight", "Requests in flight", value=m.in_flight)
        lag = m.loop_lag.stats()
        family = GaugeMetricFamily(
            PREFIX + "event_loop_lag_seconds",
            "Lateness of a 20 ms event-loop timer over the last 60 s, by quantile (1 = max)",
            labels=["quantile"],
        )
        for quantile, ms in (("0.5", lag.p50_ms), ("0.99", lag.p99_ms), ("1", lag.max_ms)):
            family.add_metric([quantile], ms / 1000)
        yield family
        total = m.questions_total
        yield GaugeMetricFamily(
            PREFIX + "questions", "Questions the job reads (0 until counted)", value=total or 0
        )
        limits = GaugeMetricFamily(
            PREFIX + "concurrency_limit",
            "Requests a backend may have in flight now (AIMD, or steered by the server)",
            labels=["backend", "replica"],
        )
        for (backend, replica), read in sorted(m.concurrency_limits.items()):
            limits.add_metric([backend, replica], read())
        yield limits
        for name, gauge in sorted(m.gauges.items()):
            family = GaugeMetricFamily(PREFIX + name, gauge.help, labels=[gauge.label])
            for value_label, value in sorted(gauge.read().items()):
                family.add_metric([value_label], value)
            yield family

        for name, help, label, by_label in (
            ("request_seconds", "Time of one generation request, retries included", "model",
             m.request_seconds),
            ("completion_tokens_per_sample", "Completion tokens of one sample", "domain",
             m.completion_tokens_by_domain),
            ("verify_seconds", "Time to verify one sample", "domain", m.verify_seconds),
        ):  # fmt: skip
            family = HistogramMetricFamily(PREFIX + name, help, labels=[label])
            for value_label, histogram in sorted(by_label.items()):
                family.add_metric([value_label], _buckets(histogram), histogram.sum)
            yield family
        question = m.question_seconds
        family = HistogramMetricFamily(
            PREFIX + "question_seconds", "Time from a question's first request to its last sample"
        )
        family.add_metric([], _buckets(question), question.sum)
        yield family


def exposition(metrics: Metrics) -> bytes:
    """The scrape body for ``metrics`` (content type prometheus_client.CONTENT_TYPE_LATEST)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobCollector(metrics))
    return generate_latest(registry)
