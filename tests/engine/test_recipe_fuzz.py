"""Mutated recipes (hypothesis, derandomized): ``check`` exits 0 or 2 with one line naming the
file and the key, never a traceback; ``run`` refuses what ``check`` refuses, with the same line,
and whatever ``check`` accepts, ``run`` against the mock finishes or exits with a documented
code and one line (issue 10: check says ok, run then fails or does nonsense)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main
from tests.helpers import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASES = {name: tomllib.loads((REPO / "configs" / name).read_text()) for name in ("demo.toml",)}
BASES["ot3.toml"] = tomllib.loads((REPO / "configs" / "ot3.toml").read_text())
BASES["demo.toml"]["sources"][0]["path"] = str(REPO / "configs" / "data" / "demo_math.jsonl")

NUMBERS = [0, -1, 1, 2, 7, 4096, 4097, 65536, 65537, 10**9, 10**30, 2**63]
NUMBERS += [0.0, -2.0, 1e-9, 0.5, 1.0, 1.5, 1e9, 1e300, math.nan, math.inf, -math.inf]
TEXTS = ["", "x", "auto", "skip", "math", "none", "vllm", "{problem}", "no slot", "2 words"]
TEXTS += ["../nope.jsonl", "configs", "http://127.0.0.1:1/v1", "localhost:8000", "a/b"]
VALUES = st.sampled_from(
    [*NUMBERS, True, False, *TEXTS, [], [1], ["a"], [{}], {}, {"zz": 1}, {"n": 2}]
) | st.integers(-3, 5000)
NEW_KEYS = st.sampled_from(["zz_unknown", "", "n", "model", "path", "enabled", "seed"])
# set: any value; tweak: a value of the same kind (so more mutants get past the types);
# delete a key or element; add a key to a table
ACTIONS = st.sampled_from(["set", "tweak", "tweak", "delete", "add"])
OPERATIONS = st.lists(
    st.tuples(ACTIONS, st.integers(0, 10**6), VALUES, NEW_KEYS), min_size=1, max_size=3
)
ERROR = re.compile(r'^error: [\w.-]+\.toml: (?P<key>[\w.\[\]"-]+): \S.*\n$')
DOCUMENTED = {0, 1, 2, 3, 4}  # README: 130 only for a forced stop by a second signal


def places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every key path and list index below ``value``, in a fixed order."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found.append((*path, key))
        if isinstance(item, dict | list):
            found += places(item, (*path, key))
    return found


def mutate(base: dict, operations: list) -> dict:
    recipe = copy.deepcopy(base)
    for action, choice, value, new_key in operations:
        paths = places(recipe)
        if not paths:
            break
        *parent_path, key = paths[choice % len(paths)]
        parent: Any = recipe
        for part in parent_path:
            parent = parent[part]
        if action == "set":
            parent[key] = copy.deepcopy(value)
        elif action == "tweak":
            old = parent[key]
            kind = TEXTS if isinstance(old, str) else NUMBERS
            if isinstance(old, str | int | float) and not isinstance(old, bool):
                parent[key] = kind[choice % len(kind)]
        elif action == "delete":
            del parent[key]
        elif isinstance(parent[key], dict):
            parent[key][new_key] = copy.deepcopy(value)
    return recipe


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else {math.inf: "inf", -math.inf: "-inf"}.get(value, repr(value))
        )
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml(recipe: dict) -> str:
    """The recipe as TOML: one top-level line per section, inline tables all the way down."""
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in recipe.items())


def check(path: Path) -> tuple[int, str]:
    """``check`` in this process (fast): exit code and stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["check", "--config", str(path)])
    return code, stderr.getvalue()


def assert_checked(code: int, stderr: str) -> None:
    errors = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    if code == 0:
        assert errors == [], stderr
        return
    assert code == 2, (code, stderr)
    assert len(errors) == 1 and ERROR.match(errors[0] + "\n"), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(base=st.sampled_from(sorted(BASES)), operations=OPERATIONS)
def test_check_exits_0_or_2_with_one_line_naming_file_and_key(base, operations):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / base
        path.write_text(toml(mutate(BASES[base], operations)))
        assert_checked(*check(path))


def fast(recipe: dict, out: Path) -> dict:
    """The settings that keep a run short, over whatever was mutated: a fresh output, four
    questions, at most four samples, the mock without latency, few quick retries."""
    sections = {name: recipe.get(name) for name in ("output", "limits", "sampling", "teacher")}
    if isinstance(sections["output"], dict):
        sections["output"]["dir"] = str(out)
    if isinstance(recipe.setdefault("limits", {}), dict):
        recipe["limits"]["max_questions"] = 4
    if isinstance(sections["sampling"], dict) and isinstance(sections["sampling"].get("n"), int):
        sections["sampling"]["n"] = min(sections["sampling"]["n"], 4)
    if isinstance(recipe.get("mock_teacher"), dict):
        recipe["mock_teacher"] |= {"latency_ms": 0.0, "tokens_per_s": 0.0}
    if isinstance(sections["teacher"], dict):
        sections["teacher"] |= {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
    return recipe


@settings(
    max_examples=8,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_run_refuses_what_check_refuses_and_runs_what_it_accepts(operations):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.toml"
        path.write_text(toml(fast(mutate(BASES["demo.toml"], operations), Path(tmp) / "out")))
        checked, check_err = check(path)
        assert_checked(checked, check_err)
        run = subprocess.run(
            [sys.executable, "-m", "engine", "run", "--config", str(path), "--quiet"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    if checked == 2:
        assert run.returncode == 2 and errors == check_err.splitlines()[-1:], run.stderr
        return
    assert run.returncode in DOCUMENTED, run.stderr
    assert len(errors) == (run.returncode != 0), run.stderr
