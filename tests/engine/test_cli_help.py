"""The command line explains itself: every command and option of ``python -m engine`` has help
text (the parser tree walked), and ``eval`` takes ``--set``, ``--limit`` and ``--output`` like
run, serve and check (typed and validated like the suite file, errors naming the key)."""

from __future__ import annotations

import argparse
import json
import re

from engine.cli import parser
from engine.eval.suite import load_suite
from engine.exits import Exit
from tests.helpers import REPO, run_cli

DEMO = REPO / "configs" / "eval" / "demo.toml"


def walk(p: argparse.ArgumentParser, path: str):
    """(command path, action) of every action in the tree under ``p``, subcommands included:
    a subcommand is an action too (its help is the one its parent lists)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield path, listed[name]
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_command_and_option_has_help_text():
    actions = list(walk(parser(), "python -m engine"))
    commands = {path for path, _ in actions}
    assert {"python -m engine eval report", "python -m engine export"} <= commands
    assert len(actions) > 100  # the whole tree, not one level of it
    missing = [
        f"{path}: {'/'.join(action.option_strings) or action.dest}"
        for path, action in actions
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert not missing, "no help text:\n" + "\n".join(missing)


def test_help_lists_every_command():
    shown = run_cli("--help")
    assert shown.returncode == 0
    for command in ("init", "run", "serve", "check", "status", "cat", "verify", "export",
                    "train", "eval", "view", "mock-teacher"):  # fmt: skip
        assert re.search(rf"^\s+{command}\s+\S", shown.stdout, re.M), command


def test_eval_takes_set_limit_and_output(tmp_path):
    out = tmp_path / "eval"
    result = run_cli(
        "eval", "--suite", str(DEMO), "--quiet", "--limit", "3", "--output", str(out),
        "--set", "benchmarks.1.n=2", "--set", "sampling.max_tokens=512",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    benchmarks = {b["name"]: b for b in results["benchmarks"]}
    assert benchmarks["demo-math500"]["questions"] == benchmarks["demo-aime"]["questions"] == 3
    assert (benchmarks["demo-math500"]["n"], benchmarks["demo-aime"]["n"]) == (4, 2)
    assert results["suite_spec"]["sampling"]["max_tokens"] == 512


def test_eval_overrides_are_validated_like_the_file_naming_the_key(tmp_path):
    for args, says in (
        (("--limit", "0"), "benchmarks[0].data.limit"),
        (("--set", "sampling.max_tokens=lots"), "sampling.max_tokens"),
        (("--set", "benchmarks.7.n=2"), "benchmarks.7: no item 7 (there are 2)"),
        (("--set", "nonsense"), "--set nonsense: expected KEY=VALUE"),
    ):
        result = run_cli("eval", "--suite", str(DEMO), "--output", str(tmp_path / "o"), *args)
        assert result.returncode == Exit.USAGE, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_star_sets_a_key_in_every_table_of_an_array():
    suite = load_suite(DEMO, sets=["benchmarks.*.n=3", "benchmarks.*.data.limit=5"])
    assert [(b.n, b.data.limit) for b in suite.benchmarks] == [(3, 5), (3, 5)]


def test_the_exit_codes_documented_are_the_exit_enum():
    """The README's exit-code paragraph, ``--help`` and engine.exits.Exit list the same codes."""
    readme = (REPO / "README.md").read_text()
    paragraph = readme[readme.index("Exit codes: ") :].split("\n\n")[0]
    first = paragraph.split(". `status`")[0]  # the codes of every command, before status's
    documented = {int(n) for n in re.findall(r"(?:^|[:;]\s)(\d+) ", first)}
    assert documented == {int(code) for code in Exit}, first
    shown = run_cli("--help").stdout
    for code in Exit:
        assert re.search(rf"\b{int(code)} [a-z]", shown), (code, shown)
