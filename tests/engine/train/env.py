"""The training venvs of .ci/train_env.sh: TRL in the vLLM venv, stock LLaMA-Factory in its own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.vllm_support.harness import MODEL, PYTHON, REPO, venv_environ

LF_VENV = Path(
    os.environ.get("THOUGHTMILL_LLAMAFACTORY_VENV", "/opt/thoughtmill/llamafactory-venv")
)
LF_PYTHON = LF_VENV / "bin" / "python"
TINY_PRESET = REPO / "configs" / "train" / "tiny-cpu.toml"


def require(*paths: Path) -> None:
    """Skip when a venv or the model is missing; fail under CI=true, where they must exist."""
    missing = [str(path) for path in paths if not path.exists()]
    if not missing:
        return
    message = f"training env missing ({', '.join(missing)}): run `bash .ci/train_env.sh`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_trl() -> None:
    require(PYTHON, MODEL / "config.json", PYTHON.parents[1] / ".thoughtmill-trl")


def require_llamafactory() -> None:
    require(LF_PYTHON, LF_VENV / ".thoughtmill-llamafactory", MODEL / "config.json")


def venv_engine(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``python -m engine ARGS`` in the vLLM venv (transformers, TRL), this checkout's code."""
    return subprocess.run(
        [str(PYTHON), "-m", "engine", *args],
        cwd=REPO,
        env=venv_environ() | {"OMP_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
