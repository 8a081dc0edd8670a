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
