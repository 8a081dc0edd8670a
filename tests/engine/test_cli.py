"""The command line: run (the shipped demo), serve endpoints, status, cat, exit codes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgspec

from tests.helpers import REPO, mock_process, recipe_toml, run_cli, write_questions


def demo_config(tmp_path: Path) -> Path:
    text = (REPO / "configs" / "demo.toml").read_text()
    config = tmp_path / "demo.toml"
    config.write_text(text.replace('dir = "out/demo"', f'dir = "{tmp_path / "out"}"'))
    return config


def test_demo_runs_offline_and_reports_the_configured_pass_rate(tmp_path):
    first = run_cli("run", "--config", str(demo_config(tmp_path)), "--quiet")
    assert first.returncode == 0, first.stderr
    rate = float(re.search(r"pass rate ([\d.]+)%", first.stdout).group(1)) / 100
    assert abs(rate - 0.7) < 4 * (0.7 * 0.3 / 160) ** 0.5  # 40 questions x 4 samples
    again = run_cli("run", "--config", str(demo_config(tmp_path)), "--quiet")
    assert (
        again.returncode == 0 and "0 samples written this run (160 already present)" in again.stdout
    )

    status = run_cli("status", str(tmp_path / "out"), "--json")
    summary = json.loads(status.stdout)["demo"]
    assert summary["records"] == 160 and summary["questions"] == 40 and summary["open_parts"] == 0
    assert summary["outcomes"]["math:passed"] == round(rate * 160)

    cat = run_cli("cat", str(tmp_path / "out"))
    records = [json.loads(line) for line in cat.stdout.splitlines()]
    assert len(records) == 160
    assert {(r["question_id"], r["sample_index"]) for r in records}.__len__() == 160


def test_recipe_change_exits_3(tmp_path):
    config = demo_config(tmp_path)
    assert run_cli("run", "--config", str(config), "--quiet").returncode == 0
    config.write_text(config.read_text().replace("temperature = 1.0", "temperature = 0.6"))
    changed = run_cli("run", "--config", str(config), "--quiet")
    assert changed.returncode == 3 and "--allow-recipe-change" in changed.stderr
    allowed = run_cli("run", "--config", str(config), "--quiet", "--allow-recipe-change")
    assert allowed.returncode == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_serve_exposes_status_metrics_and_health(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 300)
    port = free_port()
    with mock_process("--latency-ms", "200", "--answer-key", str(questions)) as url:
        config = tmp_path / "serve.toml"
        config.write_text(recipe_toml(url, questions, tmp_path / "out"))
        engine = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", str(port)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    code, health = get(f"http://127.0.0.1:{port}/healthz")
                    break
                except OSError:
                    assert time.monotonic() < deadline, "serve endpoint never came up"
                    time.sleep(0.1)
            assert code == 200 and health in ("starting", "running")
            time.sleep(0.5)
            _, body = get(f"http://127.0.0.1:{port}/status")
            status = msgspec.json.decode(body)
            assert status["state"] == "running" and status["requests"] > 0
            _, metrics = get(f"http://127.0.0.1:{port}/metrics")
            assert "# TYPE thoughtmill_requests_total counter" in metrics
            assert re.search(r"^thoughtmill_in_flight \d+", metrics, re.M)
            assert engine.wait(60) == 0
        finally:
            engine.kill()
    assert "pass rate" in engine.stdout.read().decode()
