"""``run --ray``: partition workers as Ray actors on a local cluster the tests start (``ray
start --head``, 2 CPUs), against the mock teacher: 4 workers, one SIGKILLed mid-run (restarted,
exactly once); the driver SIGKILLed and the command run again (exactly once, nothing made
again); a global RPM budget the mock enforces, never exceeded by more than 10% (the mock's own
429 count); the top-N barrier selecting what one process selects."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from engine.storage.lock import OutputLock, OutputLocked, read_holder
from tests.engine.distributed.helpers import partition_recipe, sample_keys, worker_records
from tests.engine.distributed.test_barrier import curation, selection_of
from tests.helpers import (
    REPO,
    assert_exactly_once,
    kill_when,
    mock_process,
    read_samples,
    records,
    run_cli,
    write_questions,
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A Ray head node with 2 CPUs, in its own session (stopped by its process group: no
    other Ray on the machine is touched); yields its address."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("ray")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="tmray-", dir="/tmp")  # short: Ray's socket paths are limited
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=os.environ | {"RAY_AUTH_MODE": "disabled"},
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while subprocess.run(
            [str(ray), "status", f"--address={address}"], capture_output=True,
            env=os.environ | {"RAY_AUTH_MODE": "disabled"},
        ).returncode:  # fmt: skip
            assert head.poll() is None, "ray start --head exited"
            assert time.monotonic() < deadline, "the Ray head did not come up in 120 s"
            time.sleep(0.5)
        yield address
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:
                break
            try:
                head.wait(20)
            except subprocess.TimeoutExpired:
                continue
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # what the head left in its session


def driver(config: Path, address: str, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--config", str(config), "--quiet",
         "--ray", address, "--workers", str(workers)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=os.environ | {"RAY_AUTH_MODE": "disabled"},
    )  # fmt: skip


def ended(process: subprocess.Popen, timeout: float = 300) -> str:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr.decode()[-3000:]
    return stdout.decode()


def mock_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/mock/stats") as reply:
        return json.load(reply)


def test_four_workers_one_killed_mid_run_is_restarted_and_exactly_once(tmp_path, cluster):
    questions = write_questions(tmp_path / "q.jsonl", 240)
    with mock_process("--latency-ms", "40", "--answer-key", str(questions)) as url:
        out = tmp_path / "out"
        config = partition_recipe(tmp_path, url, questions, out)
        run = driver(config, cluster, 4)
        deadline = time.monotonic() + 240
        while worker_records(out, 1) < 30:  # partition 1 has written: kill its worker
            assert run.poll() is None, run.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        victim = read_holder(out / "lock-1")
        assert victim is not None and victim.partition == 1 and victim.pid != run.pid
        os.kill(victim.pid, signal.SIGKILL)
        summary = ended(run)
    assert re.search(r"partition 1/4: exit 0, \d+ records, 1 restarts", summary), summary
    written = int(re.search(r"(\d+) samples written this run", summary)[1])
    already = int(re.search(r"\((\d+) already present\)", summary)[1])
    assert written + already >= 960 and already > 0  # the killed worker's samples kept
    assert_exactly_once(read_samples(out, "t"), 240, 4)
    holder = read_holder(out / "lock-1")
    assert holder is None  # the restarted worker ended cleanly


def test_the_driver_killed_and_run_again_is_exactly_once_and_makes_nothing_again(tmp_path, cluster):
    questions = write_questions(tmp_path / "q.jsonl", 240)
    with mock_process("--latency-ms", "40", "--answer-key", str(questions)) as url:
        out = tmp_path / "out"
        config = partition_recipe(tmp_path, url, questions, out)
        kill_when(lambda: driver(config, cluster, 4), lambda: records(out, "t") >= 200)
        deadline = time.monotonic() + 60
        while True:  # the workers go down with their driver: their partition locks come free
            try:
                with OutputLock(out):
                    break
            except OutputLocked:
                assert time.monotonic() < deadline, "workers outlived their driver by 60 s"
                time.sleep(0.1)
        present = records(out, "t")
        requests = mock_stats(url)["requests"]
        summary = ended(driver(config, cluster, 4))
        made = mock_stats(url)["requests"] - requests
    written = int(re.search(r"(\d+) samples written this run", summary)[1])
    already = int(re.search(r"\((\d+) already present\)", summary)[1])
    assert already == present and written == 960 - present, summary
    assert made * 4 >= written and made <= 240 - present // 4 + 4  # nothing asked twice
    assert_exactly_once(read_samples(out, "t"), 240, 4)


def test_a_global_rpm_budget_is_kept_by_four_workers(tmp_path, cluster):
    rpm = 600  # 10 a second (the mock allows bursts of one second's worth): about 20 s
    questions = write_questions(tmp_path / "q.jsonl", 200)
    with mock_process("--rpm", str(rpm), "--answer-key", str(questions)) as url:
        out = tmp_path / "out"
        teacher = (
            f'model = "mock"\nbase_url = "{url}"\nrpm = {rpm}\nmax_in_flight = 8\n'
            "backoff_base_s = 0.05\nrate_limit_patience_s = 300"
        )
        config = partition_recipe(tmp_path, url, questions, out, teacher=teacher)
        summary = ended(driver(config, cluster, 4))
        stats = mock_stats(url)
    assert_exactly_once(read_samples(out, "t"), 200, 4)
    assert stats["ok"] == 200
    assert stats.get("rate_limited", 0) <= 0.1 * stats["ok"], (stats, summary)


def test_the_top_n_barrier_on_ray_selects_what_one_process_selects(tmp_path, cluster):
    questions = write_questions(tmp_path / "q.jsonl", 60)
    with mock_process("--latency-ms", "10", "--answer-key", str(questions)) as url:
        single, parts = tmp_path / "single", tmp_path / "parts"
        config = partition_recipe(tmp_path, url, questions, single, **curation(url))
        assert run_cli("run", "--config", str(config), "--quiet").returncode == 0
        config = partition_recipe(tmp_path, url, questions, parts, **curation(url))
        ended(driver(config, cluster, 3))
    assert selection_of(parts)[1] == selection_of(single)[1]
    assert sample_keys(parts) == sample_keys(single)


def test_serve_on_ray_sums_the_workers_in_status_and_metrics(tmp_path, cluster):
    from prometheus_client.parser import text_string_to_metric_families

    questions = write_questions(tmp_path / "q.jsonl", 80)
    with mock_process("--latency-ms", "20", "--answer-key", str(questions)) as url:
        config = partition_recipe(tmp_path, url, questions, tmp_path / "out")
        serve = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", "0",
             "--quiet", "--keep-serving", "--ray", cluster, "--workers", "3"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=os.environ | {"RAY_AUTH_MODE": "disabled"},
        )  # fmt: skip
        try:
            line = serve.stderr.readline()
            while "dashboard on http://" not in line:
                assert line, "serve ended before its dashboard came up"
                line = serve.stderr.readline()
            base = line.split("dashboard on ")[1].strip().rstrip("/")
            deadline = time.monotonic() + 180
            while True:
                with urllib.request.urlopen(f"{base}/status") as reply:
                    status = json.load(reply)
                if status["state"] == "finished":
                    break
                assert serve.poll() is None and time.monotonic() < deadline, status
                time.sleep(0.1)
            assert status["samples_written"] == 320 and status["questions_done"] == 80
            with urllib.request.urlopen(f"{base}/metrics") as reply:
                families = {
                    f.name: f for f in text_string_to_metric_families(reply.read().decode())
                }
            assert families["thoughtmill_samples_written"].samples[0].value == 320
            latency = families["thoughtmill_request_seconds"]
            count = next(s for s in latency.samples if s.name.endswith("_count"))
            assert count.value == 80  # every worker's requests, summed
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(30) == 0
        finally:
            serve.kill()
