"""MockOptions, declared once: the recipe's [mock_teacher] section decodes into it with its
constraints, and the flags of ``python -m engine mock-teacher`` are generated from its fields."""

from __future__ import annotations

import json
import sys
import urllib.request

import msgspec
import pytest

from engine.cli import main, parser
from engine.exits import Exit
from engine.testing.options import HOSTILE_KINDS, MockOptions
from tests.helpers import REPO, mock_process, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_the_demo_recipe_section_keeps_its_meaning() -> None:
    section = tomllib.loads((REPO / "configs" / "demo.toml").read_text())["mock_teacher"]
    options = msgspec.convert(section, MockOptions)
    assert (options.answer_key, options.correct_rate, options.latency_ms) == (True, 0.7, 20.0)
    assert options.replies == "plain" and options.tokens_per_s == 0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"correct_rate": 1.5}, "Expected `float` <= 1.0 - at `$.correct_rate`"),
        ({"latency_ms": -1}, "Expected `float` >= 0.0 - at `$.latency_ms`"),
        ({"rpm": -5}, "Expected `int` >= 0 - at `$.rpm`"),
        ({"completion_tokens": 0}, "Expected `int` >= 1 - at `$.completion_tokens`"),
        ({"latency_jitter_ms": 5}, "Object contains unknown field `latency_jitter_ms`"),
        ({"replies": "fancy"}, "Invalid enum value 'fancy' - at `$.replies`"),
        ({"hostile_kinds": ["rude"]}, "Invalid enum value 'rude' - at `$.hostile_kinds[0]`"),
        ({"trace_kb": [16, 2]}, "trace_kb must be [LO, HI] with LO <= HI"),
        ({"correct_rate": 0.8, "hostile_rate": 0.3}, "correct_rate + hostile_rate must be at"),
    ],
)
def test_constraints_live_in_the_type(section: dict, message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as error:
        msgspec.convert(section, MockOptions)
    assert str(error.value).startswith(message)


def test_every_field_is_a_flag_with_its_description_as_help() -> None:
    (mock,) = [a for a in parser()._subparsers._group_actions[0].choices.items()
               if a[0] == "mock-teacher"]  # fmt: skip
    actions = {a.dest: a for a in mock[1]._actions}
    for field in msgspec.inspect.type_info(MockOptions).fields:
        assert field.name in actions, field.name
        assert field.type.extra_json_schema["description"] in actions[field.name].help


def test_flags_convert_into_the_options_the_server_runs_with() -> None:
    flags = ["--trace-kb", "2-16", "--hostile-kinds", "no_answer,megabyte", "--reject-n"]
    flags += ["--correct-rate", "0.25", "--hostile-rate", "0.5", "--replies", "realistic"]
    flags += ["--latency-dist", "uniform", "--rpm", "600", "--seed", "9"]
    with (
        mock_process(*flags) as url,
        urllib.request.urlopen(url.removesuffix("/v1") + "/mock/options") as response,
    ):
        got = msgspec.convert(json.load(response), MockOptions)
    assert got == MockOptions(
        trace_kb=(2, 16), hostile_kinds=("no_answer", "megabyte"), reject_n=True,
        correct_rate=0.25, hostile_rate=0.5, replies="realistic", latency_dist="uniform",
        rpm=600, seed=9,
    )  # fmt: skip
    assert got.hostile_kinds != HOSTILE_KINDS


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--correct-rate", "2"], "Expected `float` <= 1.0 - at `--correct-rate`"),
        (["--trace-kb", "8-2"], "trace_kb must be [LO, HI]"),
        (["--rpm", "many"], "Expected `int`, got `str` - at `--rpm`"),
        (["--answer-key", "/nonexistent/key.jsonl"], "answer key /nonexistent/key.jsonl: No"),
        (["--parent-pipe", "--rpm", "5"], "--parent-pipe takes the options from stdin"),
    ],
)
def test_bad_flags_are_one_line_errors_naming_the_flag(flags, message, capsys) -> None:
    assert main(["mock-teacher", "--port", "0", *flags]) == Exit.USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_a_bad_flag_from_the_command_line_exits_2_without_a_traceback() -> None:
    done = run_cli("mock-teacher", "--port", "0", "--latency-ms", "-3")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "at `--latency-ms`" in done.stderr
