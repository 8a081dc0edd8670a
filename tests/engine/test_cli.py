"""The command line: run (the shipped demo), serve endpoints, status, cat, exit codes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgspec
import pytest

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
    summary = json.loads(status.stdout)["streams"]["demo"]
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

            def status() -> dict:
                return msgspec.json.decode(get(f"http://127.0.0.1:{port}/status")[1])

            # up, then running with requests sent (waits on the engine's state, not a clock;
            # the 200 ms teacher keeps 300 questions running for seconds on any machine)
            code, health = wait_for(engine, lambda: get(f"http://127.0.0.1:{port}/healthz"))
            assert code == 200 and health in ("starting", "running")
            now = wait_for(engine, lambda: (s := status())["requests"] > 0 and s)
            assert now["state"] == "running"
            _, metrics = get(f"http://127.0.0.1:{port}/metrics")
            assert "# TYPE thoughtmill_requests_total counter" in metrics
            assert re.search(r"^thoughtmill_in_flight \d+", metrics, re.M)
            assert engine.wait(60) == 0
        finally:
            engine.kill()
    assert "pass rate" in engine.stdout.read().decode()


def wait_for(engine: subprocess.Popen, probe):
    """``probe()``'s first truthy value; connection errors mean not yet. Fails if the engine
    exits first (with its stderr) or after 5 minutes (a stuck engine, not a slow one)."""
    deadline = time.monotonic() + 300
    while True:
        assert engine.poll() is None, engine.stderr.read().decode()[-2000:]
        try:
            if value := probe():
                return value
        except OSError:
            pass
        assert time.monotonic() < deadline, "the engine never got there"
        time.sleep(0.05)


# --- Errors: one line each, exit codes as documented, tracebacks only with --debug (issue 10) --


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert all(part in result.stderr for part in parts), result.stderr


def test_every_user_error_is_one_line_with_its_exit_code(tmp_path):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[job]\nname = "caf\xe9"\n')
    done = tmp_path / "done"
    done.mkdir()
    assert run_cli("run", "--config", str(demo_config(done)), "--quiet").returncode == 0
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("")
    cases = [
        (("check", "--config", str(latin)), "latin.toml: not UTF-8 text (byte 17"),
        (("run", "--config", str(latin)), "latin.toml: not UTF-8 text"),
        (("serve", "--config", str(latin)), "latin.toml: not UTF-8 text"),
        (("check", "--config", str(tmp_path / "absent.toml")), "absent.toml: cannot read"),
        (("status", str(tmp_path / "nothing")), "nothing: no such output directory"),
        (("cat", str(tmp_path / "nothing")), "nothing: no such output directory"),
        (("export", str(tmp_path / "nothing"), str(tmp_path / "d")), "nothing: no such output"),
        (("export", str(done / "out"), str(busy)), "busy: exists and is not an empty directory"),
        (("mock-teacher", "--answer-key", str(tmp_path / "k.jsonl")), "k.jsonl: No such file"),
        (("run",), "python -m engine run: the following arguments are required: --config"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ]
    for args, part in cases:
        one_line_error(run_cli(*args), 2, part)


def test_tracebacks_only_with_debug(tmp_path):
    plain = run_cli("status", str(tmp_path / "nothing"))
    one_line_error(plain, 2, "no such output directory")
    for args in (("--debug", "status"), ("status", "--debug")):
        debug = run_cli(*args, str(tmp_path / "nothing"))
        assert debug.returncode != 0 and "Traceback (most recent call last)" in debug.stderr


def test_an_unexpected_error_is_one_line_naming_it(monkeypatch, capsys):
    import engine.cli.output
    from engine.cli import main

    def broken(_args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(engine.cli.output, "cmd_status", broken)
    assert main(["status", "x"]) == 1
    assert capsys.readouterr().err == (
        "error: internal error: RuntimeError: a bug (--debug shows where)\n"
    )
    with pytest.raises(RuntimeError, match="a bug"):
        main(["--debug", "status", "x"])


def test_exit_codes_of_os_errors():
    """4 only when the output cannot be written; a closed stdout is no error at all."""
    import errno

    from engine.cli import explain

    def code(number: int, filename: str | None = None) -> int:
        return explain(OSError(number, os.strerror(number), filename))[0]

    assert [code(e) for e in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)] == [4] * 4
    assert code(errno.EADDRINUSE) == 2 and code(errno.ENOENT, "x.jsonl") == 2
    assert code(errno.ECONNRESET) == 1 and code(errno.EEXIST, "manifest.json.tmp") == 1


def test_a_read_only_output_exits_4(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        config = demo_config(tmp_path)
        config.write_text(config.read_text().replace(str(tmp_path / "out"), str(mount / "out")))
        one_line_error(run_cli("run", "--config", str(config), "--quiet"), 4, "output: ", "ro")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def shell(command: str) -> subprocess.CompletedProcess[str]:
    """A pipeline in bash with pipefail: its exit code is the engine's."""
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=REPO, capture_output=True, text=True
    )


def test_a_closed_stdout_is_not_an_error(tmp_path):
    config = demo_config(tmp_path)
    engine = f"{sys.executable} -m engine"
    ran = shell(f"{engine} run --config {config} --quiet | true")
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["state"] == "finished" and manifest["records"] == 160
    head = shell(f"{engine} cat {tmp_path / 'out'} | head -n 1")
    assert head.returncode == 0 and head.stderr == "", head.stderr
    assert len(head.stdout.splitlines()) == 1
    status = shell(f"{engine} status {tmp_path / 'out'} | head -c 1")
    assert status.returncode == 0 and status.stderr == ""


def test_a_port_in_use_is_a_usage_error_with_its_own_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        config = str(demo_config(tmp_path))
        served = run_cli("serve", "--config", config, "--port", port, "--quiet")
        mocked = run_cli("mock-teacher", "--port", port)
    one_line_error(served, 2, f"serve: port {port} on 127.0.0.1 is in use (choose another --port)")
    one_line_error(mocked, 2, "address already in use (choose another --port)")
    assert not (tmp_path / "out" / "manifest.json").exists()
