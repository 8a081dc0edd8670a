"""The dashboard: its API over a real output, /metrics in Prometheus format (parsed with the
client library's parser), the token guard, `serve --keep-serving`, and the page itself in a real
headless Chromium (charts drawn, records filtered and opened, a screenshot)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from engine.config import recipe_from_dict
from engine.dashboard.app import make_app
from engine.dashboard.data import OutputView, split_thinking
from engine.job import Job
from tests.browser import headless_chromium
from tests.helpers import REPO, mock_process, recipe_toml, write_questions


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
async def output(tmp_path: Path) -> Path:
    """A finished output: 30 math questions x 4 samples from the mock (some wrong), plus a
    few questions the mock cannot answer (no answer -> wrong/no_answer)."""
    questions = write_questions(tmp_path / "q.jsonl", 30)
    data = {
        "job": {"name": "dash", "seed": 1},
        "sources": [
            {"name": "s", "domain": "math", "path": str(questions), "fields": {"id": "id"}}
        ],
        "teacher": {"model": "mock"},
        "sampling": {"n": 4, "max_tokens": 512},
        "output": {"dir": str(tmp_path / "out"), "shard_records": 40, "flush_records": 8},
        "mock_teacher": {"correct_rate": 0.6, "replies": "realistic", "trace_kb": [0.5, 1]},
    }
    assert await Job(recipe_from_dict(data, "dash.toml")).run() == 0
    return tmp_path / "out"


def serving(app):
    """A client of ``app`` served on a real loopback port."""
    return TestClient(TestServer(app))


async def test_api_counts_filters_and_opens_records(output):
    async with serving(make_app(OutputView(output))) as client:
        await _api_checks(client)


async def _api_checks(client) -> None:
    summary = await (await client.get("/api/summary")).json()
    assert summary["name"] == "dash" and summary["state"] == "finished"
    outcomes = summary["streams"]["dash"]["outcomes"]
    assert sum(outcomes.values()) == 120
    page = await (await client.get("/api/records?outcome=passed&limit=500")).json()
    assert len(page["records"]) == outcomes["math:passed"] and not page["more"]
    assert {r["outcome"] for r in page["records"]} == {"passed"}
    first = await (await client.get("/api/records?limit=7")).json()
    second = await (await client.get("/api/records?limit=7&offset=7")).json()
    keys = [(r["question_id"], r["sample_index"]) for r in first["records"] + second["records"]]
    assert len(set(keys)) == 14 and first["more"]
    none = await (await client.get("/api/records?source=elsewhere")).json()
    assert none["records"] == []
    row = page["records"][0]
    detail = await (
        await client.get(
            f"/api/record?question_id={row['question_id']}&sample_index={row['sample_index']}"
        )
    ).json()
    assert detail["gold"] == str(2 * int(row["question_id"].removeprefix("s:q")) + 1)
    assert detail["thinking"] and detail["sample"]["verdict"]["status"] == "passed"
    lengths = await (await client.get("/api/lengths")).json()
    assert sum(lengths["math"]) == 120
    assert (await client.get("/api/record?question_id=nope&sample_index=0")).status == 404
    assert (await client.get("/api/records?offset=x")).status == 400


def test_thinking_is_split_from_the_final_answer():
    assert split_thinking("<think>a\nb</think>\n\nThe answer is 4.") == (
        "a\nb",
        "\n\nThe answer is 4.",
    )
    assert split_thinking("<think>never ends") == ("never ends", None)
    assert split_thinking("no thinking") == (None, "no thinking")
    assert split_thinking(None) == (None, None)


async def test_a_token_guards_every_route(output):
    async with serving(make_app(OutputView(output), token="s3cret")) as client:
        await _token_checks(client)


async def _token_checks(client) -> None:
    for path in ("/", "/api/summary", "/status", "/metrics", "/static/app.js"):
        assert (await client.get(path)).status == 401, path
    assert (
        await client.get("/api/summary", headers={"Authorization": "Bearer s3cret"})
    ).status == 200
    response = await client.get("/?token=s3cret")
    assert response.status == 200
    assert (await client.get("/api/summary")).status == 200  # the cookie set by ?token=


def test_serve_exports_prometheus_metrics_and_keeps_serving(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 80)
    with mock_process("--latency-ms", "30", "--answer-key", str(questions)) as url:
        config = tmp_path / "serve.toml"
        config.write_text(recipe_toml(url, questions, tmp_path / "out"))
        engine = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", "0",
             "--quiet", "--keep-serving"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            line = engine.stderr.readline()  # type: ignore[union-attr]
            assert "dashboard on http://" in line, line
            base = line.split("dashboard on ")[1].strip().rstrip("/")
            deadline = time.monotonic() + 120
            while True:  # until the job ends: the dashboard stays up after it
                status = json.loads(get(f"{base}/status")[1])
                if status["state"] == "finished":
                    break
                assert engine.poll() is None and time.monotonic() < deadline, status
                time.sleep(0.05)
            code, body = get(f"{base}/metrics")
            assert code == 200
            text = body.decode()
            families = {f.name: f for f in text_string_to_metric_families(text)}
            for family in families.values():
                assert (
                    f"# HELP {_exposed(family)} " in text and f"# TYPE {_exposed(family)} " in text
                )
            assert families["thoughtmill_samples_written"].samples[0].value == 320
            verdicts = families["thoughtmill_verdicts"].samples
            assert sum(s.value for s in verdicts) == 320
            assert {s.labels["domain"] for s in verdicts} == {"math"}
            latency = families["thoughtmill_request_seconds"]
            assert latency.type == "histogram"
            count = next(s for s in latency.samples if s.name.endswith("_count"))
            assert count.labels == {"model": "mock"} and count.value == 80
            assert families["thoughtmill_completion_tokens_per_sample"].type == "histogram"
            assert families["thoughtmill_queue_depth"].type == "gauge"
            page = get(f"{base}/")
            assert page[0] == 200 and b"ThoughtMill" in page[1]
            engine.send_signal(signal.SIGTERM)
            assert engine.wait(30) == 0
        finally:
            engine.kill()


def _exposed(family) -> str:
    """The name a family is exposed under (counters carry _total)."""
    return family.name + ("_total" if family.type == "counter" else "")


def test_the_page_draws_its_charts_filters_and_opens_a_record(output, tmp_path):
    view = subprocess.Popen(
        [sys.executable, "-m", "engine", "view", str(output), "--port", "0"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = view.stderr.readline()  # type: ignore[union-attr]
        assert "dashboard on http://" in line, line
        url = line.split("dashboard on ")[1].strip()
        with headless_chromium(tmp_path) as browser:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import Select, WebDriverWait

            browser.get(url)
            wait = WebDriverWait(browser, 30)
            wait.until(lambda b: b.execute_script("return document.body.dataset.ready === 'true'"))
            drawn = browser.execute_script(
                "return Object.values(Chart.instances).map(c => ({id: c.canvas.id,"
                " points: c.data.datasets.reduce((n, d) => n + d.data.length, 0),"
                " width: c.canvas.width}))"
            )
            by_id = {c["id"]: c for c in drawn}
            for chart in ("chart-pass", "chart-funnel", "chart-lengths"):
                assert by_id[chart]["points"] > 0 and by_id[chart]["width"] > 0, drawn
            rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
            assert len(rows) == 25
            Select(browser.find_element(By.NAME, "outcome")).select_by_visible_text("wrong_answer")
            browser.find_element(By.CSS_SELECTOR, "#filters button").click()
            wait.until(
                lambda b: (
                    {
                        td.text
                        for td in b.find_elements(By.CSS_SELECTOR, "#records tbody td:nth-child(4)")
                    }
                    == {"wrong_answer"}
                )
            )
            browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")[0].click()
            wait.until(lambda b: b.execute_script("return document.getElementById('detail').open"))
            facts = browser.find_element(By.ID, "detail-facts").text
            assert "wrong_answer" in facts and "gold" in facts
            thinking = browser.find_element(By.ID, "detail-thinking")
            assert thinking.get_attribute("open") is None  # folded until clicked
            browser.save_screenshot(str(tmp_path / "dashboard.png"))
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    finally:
        view.send_signal(signal.SIGTERM)
        view.wait(30)
