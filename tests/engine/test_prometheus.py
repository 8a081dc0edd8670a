"""``/metrics`` of a real ``serve`` run against the mock teacher, with prices in the recipe:
the cost in the manifest, the summary and /metrics is tokens x price."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.records import Manifest
from engine.storage.shards import MANIFEST
from tests.helpers import REPO, mock_process, read_samples, recipe_toml, write_questions

PRICE_IN, PRICE_OUT = 3.0, 15.0  # USD per million tokens
QUESTIONS, N = 60, 4


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
    with mock_process("--latency-ms", "20", "--answer-key", str(questions)) as url:
        config = tmp / "serve.toml"
        config.write_text(recipe_toml(url, questions, tmp / "out", sampling=f"n = {N}"))
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
