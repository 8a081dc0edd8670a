"""Without vLLM installed, asking for the in-process backend says how to install it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from engine.backends.vllm_inproc import VLLMBackend, VLLMNotInstalled
from engine.config import ConfigError
from engine.specs import TeacherSpec
from tests.helpers import REPO, recipe_toml, write_questions

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vLLM is installed in this Python"
)


def test_constructing_the_backend_raises_a_config_error_with_the_install_command():
    with pytest.raises(VLLMNotInstalled) as caught:
        VLLMBackend(TeacherSpec(backend="vllm", model="/models/tiny"))
    assert isinstance(caught.value, ConfigError)
    assert "pip install 'thoughtmill[vllm]'" in str(caught.value)
    assert ".ci/vllm_env.sh" in str(caught.value)


def test_the_cli_exits_2_with_the_hint(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 2)
    config = tmp_path / "vllm.toml"
    teacher = 'backend = "vllm"\nmodel = "/models/tiny"'
    config.write_text(recipe_toml("", questions, tmp_path / "out", teacher=teacher))
    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--config", str(config), "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "pip install 'thoughtmill[vllm]'" in result.stderr
