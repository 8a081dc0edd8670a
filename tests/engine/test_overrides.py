"""`--set`, `--limit`, `--output` (typed and checked like the file) and `init`'s starter recipe."""

from __future__ import annotations

import re

import pytest

from engine.config import parse_recipe
from engine.errors import ConfigError
from engine.overrides import apply, parse_value
from tests.helpers import read_samples, run_cli

BASE = """
[[sources]]
name = "s"
domain = "math"
path = "q.jsonl"
[teacher]
model = "m"
[output]
dir = "out"
"""


@pytest.mark.parametrize(
    ("text", "value"),
    [("4", 4), ("0.7", 0.7), ("true", True), ('"x y"', "x y"), ("[1, 2]", [1, 2]),
     ("{ a = 1 }", {"a": 1}), ("http://h:8000/v1", "http://h:8000/v1"), ("plain", "plain")],
)  # fmt: skip
def test_values_are_toml_or_else_strings(text, value):
    assert parse_value(text) == value


def test_overrides_are_typed_and_checked_like_the_file():
    recipe = parse_recipe(BASE, "r.toml", ["sampling.n=2", "teacher.base_url=http://h:1/v1"])
    assert recipe.sampling.n == 2 and recipe.teacher.base_url == "http://h:1/v1"
    assert parse_recipe(BASE, "r.toml", ["sources.0.limit=3"]).sources[0].limit == 3
    for overrides, message in [
        (["sampling.n=0"], "r.toml: sampling.n: must be at least 1"),
        (["sampling.n=many"], "r.toml: sampling.n: expected int, got str"),
        (["sampling.nn=1"], "r.toml: sampling.nn: unknown key"),
        (["sources.2.limit=1"], "--set sources.2.limit=1: sources.2: no item 2 (there are 1)"),
        (["teacher.model.x=1"], "--set teacher.model.x=1: teacher.model is not a section"),
        (["n"], "--set n: expected KEY=VALUE"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_recipe(BASE, "r.toml", overrides)


def test_the_file_itself_is_untouched():
    data = {"sampling": {"n": 4}}
    assert apply(data, ["sampling.n=2"]) is data and data == {"sampling": {"n": 2}}


def test_init_writes_a_starter_that_checks_and_runs_offline(tmp_path):
    made = run_cli("init", str(tmp_path / "starter.toml"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    recipe = tmp_path / "starter.toml"
    assert recipe.read_text().startswith("# A ThoughtMill recipe")
    assert run_cli("check", "--config", str(recipe), cwd=tmp_path).returncode == 0
    again = run_cli("init", str(recipe), cwd=tmp_path)
    assert again.returncode == 2 and "exists (pass --force" in again.stderr
    # --set, --limit and --output on the command line, then a run of what init wrote
    out = tmp_path / "elsewhere"
    args = ("--set", "sampling.n=2", "--limit", "3", "--output", str(out), "--quiet")
    ran = run_cli("run", "--config", str(recipe), *args, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    samples = read_samples(out)
    assert len(samples) == 6 and {s.sample_index for s in samples} == {0, 1}
    bad = run_cli("run", "--config", str(recipe), "--set", "sampling.n=0", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: starter.toml: sampling.n: must be at least 1"
    )
