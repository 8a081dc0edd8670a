"""Recipe config: decoding, errors that name the file and the key path, the check command."""

from __future__ import annotations

import asyncio

import pytest

from engine.config import ConfigError, load_recipe, missing_keys, parse_recipe
from engine.job import Job
from tests.helpers import REPO, run_cli

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


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as error:
        parse_recipe(text, "ot3.toml")
    return str(error.value)


def test_shipped_recipes_are_valid():
    for path in sorted((REPO / "configs").glob("*.toml")):
        recipe = load_recipe(path)
        assert recipe.sources and recipe.output.dir, path


def test_defaults_fill_what_is_not_said():
    recipe = parse_recipe(BASE)
    assert recipe.sampling.n == 16 and recipe.teacher.api == "chat"
    assert recipe.output.zstd_level == 3


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('[teacher]\nmodel = "m"\nrpm = "many"', "ot3.toml: teacher.rpm: expected int, got str"),
        ('[teacher]\nmodel = "m"\nrmp = 5', "ot3.toml: teacher.rmp: unknown key"),
        ("[teacher]\nrpm = 5", "ot3.toml: teacher.model: missing required key"),
        ("[sampling]\nn = 1.5", "ot3.toml: sampling.n: expected int, got float"),
        ('[sampling]\non_truncation = "ignore"', "ot3.toml: sampling.on_truncation: invalid enum"),
        ("[sampling]\nn = 0", "ot3.toml: sampling.n: must be at least 1"),
        ('[prompt]\nuser = "no slot"', "ot3.toml: prompt.user: must contain {problem}"),
        ("[nonsense]\nx = 1", "ot3.toml: nonsense: unknown key"),
    ],
)
def test_errors_name_the_file_and_key_path(snippet, message):
    text = BASE.replace('[teacher]\nmodel = "m"\n', "") if "[teacher]" in snippet else BASE
    assert error_of(text + snippet).startswith(message)


def test_source_errors_name_the_index():
    text = BASE + '[[sources]]\nname = "t"\ndomain = "poetry"\npath = "x"\n'
    assert error_of(text).startswith("ot3.toml: sources[1].domain:")


def test_toml_syntax_errors_name_the_line():
    assert "line 3" in error_of('[teacher]\nmodel = "m"\nrpm = = 3\n')


def test_api_key_env_must_be_set_to_run_and_the_key_is_never_in_config(monkeypatch):
    text = BASE.replace('model = "m"', 'model = "m"\napi_key_env = "TM_MISSING_KEY"')
    monkeypatch.delenv("TM_MISSING_KEY", raising=False)
    recipe = parse_recipe(text)
    assert missing_keys(recipe) == [
        "teacher.api_key_env: environment variable TM_MISSING_KEY is not set"
    ]
    with pytest.raises(ConfigError, match="TM_MISSING_KEY is not set"):
        asyncio.run(Job(recipe).run())
    monkeypatch.setenv("TM_MISSING_KEY", "sk-secret")
    assert missing_keys(parse_recipe(text)) == []
    assert "sk-secret" not in repr(parse_recipe(text))


def test_sample_hash_tracks_what_changes_samples():
    base = parse_recipe(BASE)
    same = parse_recipe(BASE + "[limits]\nqueue_size = 7\n[sampling]\nn = 32\n")
    hotter = parse_recipe(BASE + "[sampling]\ntemperature = 0.3\n")
    other_prompt = parse_recipe(BASE + '[prompt]\nuser = "Q: {problem}"\n')
    assert base.sample_hash() == same.sample_hash()
    assert len({base.sample_hash(), hotter.sample_hash(), other_prompt.sample_hash()}) == 3


def test_check_command_exit_codes(tmp_path):
    ok = run_cli("check", "--config", "configs/demo.toml")
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE + "[teacher]\nrpm = 'x'\n")
    result = run_cli("check", "--config", str(bad))
    assert result.returncode == 2
    assert "bad.toml:" in result.stderr
    missing = run_cli("check", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml: cannot read" in missing.stderr


def test_a_recipe_may_carry_its_export_settings():
    recipe = parse_recipe(BASE + '[export]\nformat = "trl"\nover_cutoff = "cut"\n', "r.toml")
    assert recipe.export is not None and (recipe.export.format, recipe.export.over_cutoff) == (
        "trl",
        "cut",
    )
    with pytest.raises(ConfigError, match=r"r\.toml: export\.format: invalid enum value 'csv'"):
        parse_recipe(BASE + '[export]\nformat = "csv"\n', "r.toml")


# --- check refuses what run would refuse, or what makes no sense (issue 10) --------------------

DEMO = (
    (REPO / "configs" / "demo.toml")
    .read_text()
    .replace("configs/data/demo_math.jsonl", str(REPO / "configs" / "data" / "demo_math.jsonl"))
)


def edited(section: str, old: str, new: str) -> str:
    """demo.toml with one line of ``section`` replaced (or added when ``old`` is empty)."""
    header = f"[[{section}]]\n" if section == "sources" else f"[{section}]\n"
    head, sep, rest = DEMO.partition(header)
    assert sep, section
    if not old:
        return f"{head}{sep}{new}\n{rest}"
    assert old in rest, old
    return head + sep + rest.replace(old, new, 1)


# fmt: off
REFUSED = [
    (edited("sources", 'path = "', 'path = "absent-'), "sources[0].path: source 'demo-math': no"),
    (edited("sampling", "temperature = 1.0", "temperature = -2"), "sampling.temperature: must be"),
    (edited("sampling", "temperature = 1.0", "temperature = nan"), "sampling.temperature: must"),
    (edited("sampling", "max_tokens = 2048", "max_tokens = 0"), "sampling.max_tokens: must be at"),
    (edited("sampling", "n = 4", f"n = {10**30}"), "sampling.n: must be at most 4096"),
    (edited("teacher", "max_in_flight = 64", "max_in_flight = 1000000000"),
     "teacher.max_in_flight: must be at most 65536"),
    (edited("teacher", "max_in_flight = 64", "max_in_flight = 1e9"),
     "teacher.max_in_flight: expected int, got float"),
    (edited("teacher", "max_in_flight = 64", "max_in_flight = 0"), "teacher.max_in_flight: must"),
    (edited("output", "shard_records = 64", "zstd_level = 100"), "output.zstd_level: must be at"),
    (edited("verify.math", "timeout_s = 5.0", "timeout_s = 0"), "verify.math.timeout_s: must be"),
    (edited("verify.math", "", "[verify]\nconcurrency = 0"), "verify.concurrency: must be at"),
    (edited("teacher", "", "request_timeout_s = 0"), "teacher.request_timeout_s: must be greater"),
    (edited("teacher", "", "request_timeout_s = inf"), "teacher.request_timeout_s: must be at"),
    (edited("teacher", "", "backoff_base_s = inf"), "teacher.backoff_base_s: must be at most"),
    (edited("output", "", "flush_seconds = 1e-9"), "output.flush_seconds: must be at least 0.01"),
    (
        edited("sampling", 'on_truncation = "keep"', 'on_truncation = "ignore"'),
        "sampling.on_truncation: invalid enum value 'ignore'; valid: 'drop', 'keep', 'retry'",
    ),
    (edited("sources", 'domain = "math"', 'domain = "poetry"'), "sources[0].domain: invalid enum"),
    (edited("teacher", "", '"" = 1'), 'teacher."": unknown key'),
    (edited("teacher", "", 'base_url = "localhost:8000"'), "teacher.base_url: 'localhost:8000' is"),
    (edited("teacher", "", "extra_body = { n = 2 }"), "teacher.extra_body: n set by the engine"),
    (edited("sources", "", 'fields = { problem = "" }').replace('fields = { id = "id" }\n', ""),
     "sources[0].fields.problem: must not be empty"),
    (edited("sources", 'fields = { id = "id" }', 'fields = { id = "uid" }'),
     "sources[0]: " + str(REPO / "configs/data/demo_math.jsonl") + ", line 1: missing field 'uid'"),
    (DEMO + '\n[[sources]]\nname = "demo-math"\ndomain = "math"\npath = "x"\n',
     "sources[1].name: 'demo-math' is the name of sources[0]"),
    ("a = " + "[" * 3000 + "]" * 3000, "values nested too deeply"),
]
# fmt: on


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_check_refuses_what_run_would_refuse_naming_file_and_key(tmp_path, text, message, capsys):
    from engine.cli import main

    path = tmp_path / "t.toml"
    path.write_text(text)
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: t.toml: {message}") and err.count("\n") == 1, err
    assert main(["run", "--config", str(path), "--quiet"]) == 2  # run refuses it the same way
    assert capsys.readouterr().err == err
    assert not (tmp_path / "out").exists()


def test_check_accepts_the_shipped_demo_with_absolute_paths(tmp_path, capsys):
    from engine.cli import main

    path = tmp_path / "t.toml"
    path.write_text(DEMO)
    assert main(["check", "--config", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok")
