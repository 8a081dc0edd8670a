"""Live progress: drawn in place in a real terminal (tmux, 80 columns), a plain line in logs, the
final state always shown."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from engine.metrics import Metrics
from engine.progress import Progress, lines, plain_line
from tests.helpers import REPO, mock_process, recipe_toml, write_questions


def test_lines_show_every_figure():
    metrics = Metrics()
    metrics.questions_total, metrics.questions_done, metrics.samples_written = 40, 10, 40
    metrics.retries, metrics.rate_limited = 3, 2
    metrics.failures["timeout"] = 5
    metrics.prices["m"] = (1.0, 2.0)
    metrics.count_usage("m", 1_000_000, 500_000)
    metrics.count_verdict("math", "passed")
    metrics.count_verdict("math", "wrong_answer")
    first, second, third = lines(metrics.snapshot())
    assert "questions 10/40 25.0%" in first and "elapsed" in first and "eta" in first
    assert "req/s" in second and "samples/s" in second and "tok/s in" in second
    assert "in-flight 0" in second
    assert "retries 3" in third and "429s 2" in third and "timeout 5" in third
    assert "pass math 50%" in third and "cost $2.00" in third


async def test_plain_line_when_not_a_terminal_and_the_final_state_printed():
    metrics = Metrics()
    metrics.questions_total = 4
    stream = io.StringIO()
    async with Progress(metrics, stream=stream, plain_every_s=3600):
        metrics.questions_done = 4
        metrics.state = "finished"
    assert stream.getvalue() == plain_line(metrics.snapshot()) + "\n"
    assert "finished questions 4/4 100.0%" in stream.getvalue()


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def test_progress_redraws_in_place_in_an_80_column_terminal(tmp_path):
    if shutil.which("tmux") is None:
        message = "tmux is not installed (bash .ci/ui.sh)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    questions = write_questions(tmp_path / "q.jsonl", 300)
    session = f"tm-{uuid.uuid4().hex[:8]}"
    with mock_process("--latency-ms", "50") as url:
        config = tmp_path / "r.toml"
        teacher = f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = 8'
        config.write_text(recipe_toml(url, questions, tmp_path / "out", teacher=teacher))
        command = f"{sys.executable} -m engine run --config {config}; echo EXITED $?; sleep 600"
        tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "30", "-c", str(REPO), command)
        try:
            seen_running = False
            deadline = time.monotonic() + 120
            while "EXITED" not in (screen := tmux("capture-pane", "-p", "-J", "-t", session)):
                seen_running |= "running questions" in screen
                assert time.monotonic() < deadline, screen
                time.sleep(0.05)
            history = tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert seen_running, "no live progress seen while the job ran"
    assert "EXITED 0" in history
    # redrawn in place: one progress block in the whole scrollback, showing the final state
    assert history.count("req/s") == 1, history
    rows = history.splitlines()
    at = next(i for i, row in enumerate(rows) if row.startswith("finished questions"))
    block = rows[at - 1 : at + 3]  # the bar and three lines, none wrapped (-J joins wraps)
    assert block[0].startswith("━") and block[2].startswith("req/s"), block
    assert all(len(row) <= 80 for row in block), block
    assert "finished questions 300/300 100.0%" in block[1]
