"""``/metrics`` of a real ``serve`` run against a mock teacher that fails some requests, with
prices in the recipe: the cost in the manifest, the summary and /metrics is tokens x price;
every family has HELP and TYPE and follows Prometheus naming (parsed by the client library's
parser); the Grafana dashboard asks only for metrics the page has."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.records import Manifest
from engine.storage.shards import MANIFEST
from tests.helpers import REPO, mock_process, read_samples, recipe_toml, write_questions

PRICE_IN, PRICE_OUT = 3.0, 15.0  # USD per million tokens
QUESTIONS, N, MAX_IN_FLIGHT = 60, 4, 16
GRAFANA = REPO / "deploy" / "grafana" / "thoughtmill.json"


class Served(NamedTuple):
    out: Path
    metrics: str  # the /metrics page once the job finished
    summary: str  # what the run printed at its end


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    """One ``serve --keep-serving`` run to its end, its /metrics page and its summary."""
    tmp = tmp_path_factory.mktemp("served")
    questions = write_questions(tmp / "q.jsonl", QUESTIONS)
    # a third of the requests answered 500 and not retried: failures by reason
    mock = ("--latency-ms", "20", "--error-rate", "0.3", "--answer-key", str(questions))
    with mock_process(*mock) as url:
        config = tmp / "serve.toml"
        teacher = f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = {MAX_IN_FLIGHT}\n'
        teacher += "max_attempts = 1"
        sections = {"sampling": f"n = {N}", "teacher": teacher, "limits": "max_failed_share = 0.6"}
        config.write_text(recipe_toml(url, questions, tmp / "out", **sections))
        engine = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", "0",
             "--quiet", "--keep-serving",
             "--set", f"teacher.price_input_per_m={PRICE_IN}",
             "--set", f"teacher.price_output_per_m={PRICE_OUT}"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            line = engine.stderr.readline()  # type: ignore[union-attr]
            assert "dashboard on http://" in line, line
            base = line.split("dashboard on ")[1].strip().rstrip("/")
            deadline = time.monotonic() + 120
            while json.loads(get(f"{base}/status"))["state"] != "finished":
                assert engine.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            metrics = get(f"{base}/metrics")
            engine.send_signal(signal.SIGTERM)
            stdout, stderr = engine.communicate(timeout=30)
            assert engine.returncode == 0, stderr
        finally:
            engine.kill()
    return Served(tmp / "out", metrics, stdout)


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_cost_is_tokens_times_price_in_manifest_summary_and_metrics(served):
    manifest = msgspec.json.decode((served.out / MANIFEST).read_bytes(), type=Manifest)
    usage = manifest.usage["mock"]
    samples = read_samples(served.out)
    assert len(samples) == QUESTIONS * N
    # the mock's usage, as the samples carry it: one request per question (n native) sends
    # the prompt once; completions are each sample's own
    assert usage.completion_tokens == sum(s.usage.completion_tokens for s in samples) > 0
    assert usage.prompt_tokens * N == sum(s.usage.prompt_tokens for s in samples) > 0
    expected = (usage.prompt_tokens * PRICE_IN + usage.completion_tokens * PRICE_OUT) / 1e6
    assert usage.cost_usd == pytest.approx(expected, rel=1e-9) and expected > 0

    printed = re.search(r"^cost \$([\d.]+)  mock: (\d+) in, (\d+) out, \$([\d.]+)$",
                        served.summary, re.M)  # fmt: skip
    assert printed, served.summary
    total, tokens_in, tokens_out, model_cost = printed.groups()
    assert (int(tokens_in), int(tokens_out)) == (usage.prompt_tokens, usage.completion_tokens)
    assert float(total) == float(model_cost) == round(expected, 4)

    (sample,) = families(served.metrics)["thoughtmill_cost_usd"].samples
    assert sample.name == "thoughtmill_cost_usd_total" and sample.labels == {"model": "mock"}
    assert sample.value == pytest.approx(expected, rel=1e-9)


def exposed(family) -> str:
    """The name a family is exposed under: counters carry ``_total``."""
    return family.name + ("_total" if family.type == "counter" else "")


def test_every_family_has_help_and_type_and_follows_prometheus_naming(served):
    found = families(served.metrics)
    for family in found.values():
        name = exposed(family)
        assert (
            f"# HELP {name} " in served.metrics and f"# TYPE {name} {family.type}" in served.metrics
        )
        assert re.fullmatch(r"thoughtmill_[a-z][a-z0-9_]*", family.name), family.name
        assert family.documentation.strip(), name
        if family.type == "counter":
            assert all(s.name == name for s in family.samples), family.name
        else:
            assert not family.name.endswith("_total"), family.name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|bytes_kb)(_|$)", family.name)
        if re.search(r"latency|lag|duration|time", family.name):
            assert family.name.endswith("_seconds"), family.name
        if family.type == "histogram":
            suffixes = {s.name.removeprefix(family.name) for s in family.samples}
            assert suffixes == {"_bucket", "_count", "_sum"}, family.name
            assert any(s.labels.get("le") == "+Inf" for s in family.samples)
    wanted = {
        "counter": ["requests", "samples_written", "prompt_tokens", "completion_tokens",
                    "retries", "failures", "verdicts", "cost_usd", "questions_done"],
        "histogram": ["request_seconds", "question_seconds", "verify_seconds",
                      "completion_tokens_per_sample"],
        "gauge": ["in_flight", "concurrency_limit", "queue_depth", "event_loop_lag_seconds",
                  "questions"],
    }  # fmt: skip
    for kind, names in wanted.items():
        for name in names:
            assert found[f"thoughtmill_{name}"].type == kind, name


def test_the_values_are_the_run_s(served):
    found = families(served.metrics)
    samples = read_samples(served.out)
    failed = Counter(s.failure.kind for s in samples if s.failure)
    assert failed["server_error"] > 0  # the mock's 500s, not retried
    reasons = {s.labels["reason"]: s.value for s in found["thoughtmill_failures"].samples}
    assert reasons == dict(failed)
    verdicts = Counter((s.domain, s.verdict.status) for s in samples if s.verdict)
    by_label = {
        (s.labels["domain"], s.labels["status"]): s.value
        for s in found["thoughtmill_verdicts"].samples
    }
    assert by_label == dict(verdicts) and sum(verdicts.values()) == len(samples) - failed.total()
    # every question's time is observed once, from its first request to its last sample
    question = {
        s.name: s.value for s in found["thoughtmill_question_seconds"].samples if not s.labels
    }
    assert question["thoughtmill_question_seconds_count"] == QUESTIONS
    assert question["thoughtmill_question_seconds_sum"] >= QUESTIONS * 0.02  # 20 ms a request
    (limit,) = found["thoughtmill_concurrency_limit"].samples
    assert limit.labels["backend"] == "teacher" and limit.labels["replica"].startswith("http://")
    assert 1 <= limit.value <= MAX_IN_FLIGHT


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (labels and functions are not metrics)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    return set(re.findall(r"\bthoughtmill_[a-z0-9_]+", without_labels))


def test_the_grafana_dashboard_reads_only_metrics_a_run_exports(served):
    dashboard = json.loads(GRAFANA.read_text())
    exported = {s.name for family in families(served.metrics).values() for s in family.samples}
    panels = dashboard["panels"]
    titles = [panel["title"] for panel in panels]
    for wanted in ("Samples / s", "Requests / s", "In flight vs limit", "Request latency p50 / p99",
                   "Pass rate by domain", "Failures by reason", "Cost (USD)", "Event-loop lag",
                   "Queue depth by stage"):  # fmt: skip
        assert wanted in titles
    assert len({panel["id"] for panel in panels}) == len(panels)
    read = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
            names = metric_names(expr)
            assert names, expr
            assert names <= exported, (panel["title"], names - exported)
            read |= names
    # the page's main families are all on the dashboard
    for name in ("samples_written_total", "requests_total", "concurrency_limit", "in_flight",
                 "request_seconds_bucket", "verdicts_total", "failures_total", "cost_usd_total",
                 "event_loop_lag_seconds", "queue_depth"):  # fmt: skip
        assert f"thoughtmill_{name}" in read
