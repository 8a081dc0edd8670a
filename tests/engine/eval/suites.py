"""Suites and benchmark files for the eval tests, written into a test's tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

MATH_PROMPT = "{problem}\nMark your solution with \\boxed\nAnswer:"


def math_rows(count: int, start: int = 0) -> list[dict]:
    """Distinct problems with integer golds and a difficulty level 1-5."""
    return [
        {
            "id": f"p{i}",
            "problem": f"What is {i} times {i + 3}, plus {i % 7}?",
            "answer": str(i * (i + 3) + i % 7),
            "level": 1 + i % 5,
        }
        for i in range(start, start + count)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def toml_value(value: object) -> str:
    return json.dumps(value)  # TOML basic strings, arrays and numbers read like JSON


def benchmark_table(name: str, verifier: str, n: int, data: dict, prompt: str = MATH_PROMPT) -> str:
    inline = ", ".join(
        f"{key} = {toml_value(value)}" if not isinstance(value, dict) else
        f"{key} = {{ {', '.join(f'{k} = {toml_value(v)}' for k, v in value.items())} }}"
        for key, value in data.items()
    )  # fmt: skip
    return (
        f"[[benchmarks]]\nname = {toml_value(name)}\nverifier = {toml_value(verifier)}\n"
        f"n = {n}\nprompt = {{ user = {toml_value(prompt)} }}\ndata = {{ {inline} }}\n"
    )


def write_suite(
    path: Path,
    out: Path,
    benchmarks: list[str],
    *,
    mock: str | None = "correct_rate = 0.6",
    model: str = "",
    extra: str = "",
    temperature: float = 0.7,
) -> Path:
    """A suite file; ``mock`` is the [mock_teacher] table's body (None: no mock)."""
    parts = [
        'name = "t"',
        f"[output]\ndir = {toml_value(str(out))}\nshard_records = 64\nflush_records = 16",
        f"[sampling]\ntemperature = {temperature}\nmax_tokens = 1024\nseed = 5",
    ]
    if mock is not None:
        parts.append(f"[mock_teacher]\n{mock}")
    if model:
        parts.append(f"[model]\n{model}")
    parts += [extra, *benchmarks]
    path.write_text("\n".join(parts) + "\n")
    return path


def start_eval(*args: str) -> subprocess.Popen:
    """``python -m engine eval ARGS --quiet`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "eval", *args, "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
