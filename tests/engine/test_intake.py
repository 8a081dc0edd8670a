"""Whole jobs over sources with bad rows and repeated ids: every row ends as one question or one
typed exclusion naming its place, the job goes on under ``on_bad_row = "skip"``, and a rerun
adds nothing (issue 10: bad rows, repeated ids)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import msgspec

from engine.config import parse_recipe
from engine.job import Job
from engine.records import Excluded, Manifest
from engine.storage.reader import read_stream
from tests.helpers import mock_process, read_samples, recipe_toml, run_cli, write_questions


def recipe_text(url: str, questions: Path, out: Path, policy: str = "skip") -> str:
    text = recipe_toml(url, questions, out)
    return text.replace(
        'fields = { id = "id" }\n', f'fields = {{ id = "id" }}\non_bad_row = "{policy}"\n'
    )


def excluded(out: Path) -> list[Excluded]:
    return list(read_stream(out, "t_excluded", Excluded))


def funnel(out: Path) -> dict:
    return msgspec.json.decode((out / "manifest.json").read_bytes(), type=Manifest).funnel


def assert_once_each(out: Path, ids: list[str], n: int) -> None:
    keys = Counter((s.question_id, s.sample_index) for s in read_samples(out, "t"))
    assert keys == Counter({(i, j): 1 for i in ids for j in range(n)})


def damage_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


async def test_skip_writes_the_bad_row_to_the_exclusions_and_the_funnel_and_goes_on(
    tmp_path, mock_teacher
):
    key = write_questions(tmp_path / "key.jsonl", 300)  # the mock's answers
    questions = write_questions(tmp_path / "q.jsonl", 300)
    damage_line(questions, 250, '{"id": "q249", "problem": "Compute')  # cut short
    out = tmp_path / "out"
    async with mock_teacher(answer_key=str(key)) as mock:
        recipe = parse_recipe(recipe_text(mock.url, questions, out), "t.toml")
        assert await Job(recipe).run() == 0
        assert await Job(recipe).run() == 0  # the rerun: nothing new, the row excluded once
        assert mock.stats["requests"] == 299
    assert_once_each(out, [f"s:q{i}" for i in range(300) if i != 249], 4)
    [bad] = excluded(out)
    assert (bad.question_id, bad.stage, bad.reason.file, bad.reason.line) == (
        f"s@{questions}:250",
        "intake",
        str(questions),
        250,
    )
    assert bad.reason.detail.startswith("invalid JSON")
    assert funnel(out)["intake"] == {"math": {"bad_row": 1}}
    status = json.loads(run_cli("status", str(out), "--json").stdout)
    assert status["streams"]["t_excluded"]["outcomes"] == {"math:intake": 1}


async def test_a_repeated_id_keeps_the_first_row_and_excludes_the_others(tmp_path, mock_teacher):
    key = write_questions(tmp_path / "key.jsonl", 6)
    questions = write_questions(tmp_path / "q.jsonl", 6)
    with questions.open("a") as f:  # 1, 1.0 and "1" are one id: the first row keeps it
        f.write('{"id": 1, "problem": "Compute 40 + 2.", "answer": "42"}\n')
        f.write('{"id": 1.0, "problem": "Compute 1 + 1.", "answer": "2"}\n')
        f.write('{"id": "q3", "problem": "Compute 9 + 9.", "answer": "18"}\n')
        f.write('{"id": "1", "problem": "Compute 2 + 2.", "answer": "4"}\n')
    out = tmp_path / "out"
    async with mock_teacher(answer_key=str(key)) as mock:
        recipe = parse_recipe(recipe_text(mock.url, questions, out, "error"), "t.toml")
        assert await Job(recipe).run() == 0
        assert await Job(recipe).run() == 0
        assert mock.stats["requests"] == 7
    assert_once_each(out, [f"s:q{i}" for i in range(6)] + ["s:1"], 4)
    first = {s.question_id: s for s in read_samples(out, "t") if s.sample_index == 0}
    assert "40 + 2" in first["s:1"].messages[-1].content  # the first row's question
    repeats = [(e.question_id, e.reason.id, e.reason.kept, e.problem) for e in excluded(out)]
    assert repeats == [
        (f"s@{questions}:8", "s:1", f"{questions}:7", "Compute 1 + 1."),
        (f"s@{questions}:9", "s:q3", f"{questions}:4", "Compute 9 + 9."),
        (f"s@{questions}:10", "s:1", f"{questions}:7", "Compute 2 + 2."),
    ]
    assert funnel(out)["intake"] == {"math": {"repeated_id": 3}}


def test_a_bad_row_under_the_default_policy_is_one_line_naming_file_and_line(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 20)
    damage_line(questions, 7, '{"id": "q6", "problem": ' + "[" * 100_000 + "]" * 100_000 + "}")
    config = tmp_path / "t.toml"
    with mock_process() as url:
        config.write_text(recipe_text(url, questions, tmp_path / "out", "error"))
        failed = run_cli("run", "--config", str(config), "--quiet")
        config.write_text(recipe_text(url, questions, tmp_path / "out", "skip"))
        skipped = run_cli("run", "--config", str(config), "--quiet")
    assert failed.returncode == 2
    assert (
        failed.stderr == f"error: {questions}, line 7: invalid JSON: nested too deeply to decode\n"
    )
    assert skipped.returncode == 0, skipped.stderr
    assert_once_each(tmp_path / "out", [f"s:q{i}" for i in range(20) if i != 6], 4)
