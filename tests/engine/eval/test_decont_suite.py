"""A recipe's ``[decont] suite``: the benchmarks of an eval suite are removed from the training
data (one source of truth for what a model is evaluated on), each removal named by its
benchmark."""

from __future__ import annotations

import json

import msgspec

from engine.config import parse_recipe
from engine.eval import benchmark_sources, load_suite
from engine.job import Job
from engine.records import Excluded
from engine.storage import shards
from engine.storage.reader import iter_lines
from tests.engine.eval.suites import benchmark_table, math_rows, write_jsonl, write_suite
from tests.helpers import DATA, REPO, read_samples, recipe_toml, run_cli, write_questions

GPQA = DATA / "eval" / "gpqa_diamond.jsonl"
N = 2


def _suite(tmp_path):
    bench = write_jsonl(tmp_path / "bench.jsonl", math_rows(5, start=500))
    benchmarks = [
        benchmark_table("bench-math", "math", 1, {"path": str(bench), "fields": {"id": "id"}}),
        benchmark_table("gpqa-fixture", "mcq", 1, {"layout": "gpqa", "path": str(GPQA)}),
    ]
    return write_suite(tmp_path / "suite.toml", tmp_path / "eval-out", benchmarks, mock=None)


async def test_training_questions_equal_to_suite_items_are_excluded_with_their_benchmark(
    tmp_path,
):
    suite = _suite(tmp_path)
    math_item = math_rows(5, start=500)[2]["problem"]
    gpqa_item = json.loads(GPQA.read_text().splitlines()[4])["Question"]
    questions = write_questions(tmp_path / "train.jsonl", 20)
    with questions.open("a") as f:
        f.write(json.dumps({"id": "leak", "problem": math_item, "answer": "1"}) + "\n")
    science = write_jsonl(tmp_path / "sci.jsonl", [{"id": "leak", "problem": gpqa_item}])
    out = tmp_path / "out"
    sections = {"decont": f'suite = "{suite}"', "mock_teacher": "correct_rate = 1.0",
                "sampling": f"n = {N}\nmax_tokens = 256"}  # fmt: skip
    text = recipe_toml("http://unused/v1", questions, out, **sections)
    text = (
        f'[[sources]]\nname = "sci"\ndomain = "science"\npath = "{science}"\n'
        'fields = { id = "id" }\n' + text
    )
    job = Job(parse_recipe(text, "t.toml"))
    assert await job.run() == 0
    excluded = [
        msgspec.json.decode(line, type=Excluded)
        for path in shards.list_shards(out, "t_excluded")
        for line in iter_lines(path)
    ]
    named = {e.question_id: (e.stage, e.reason.benchmark) for e in excluded}
    assert named == {"s:leak": ("decont", "bench-math"), "sci:leak": ("decont", "gpqa-fixture")}
    samples = read_samples(out, "t")
    assert {s.question_id for s in samples} == {f"s:q{i}" for i in range(20)}
    assert len(samples) == 20 * N
    assert job.funnel.as_dict()["decont"] == {
        "math": {"bench-math": 1},
        "science": {"gpqa-fixture": 1},
    }


def test_the_ot3_recipe_decontaminates_against_the_ot3_eval_suite():
    recipe = parse_recipe((REPO / "configs" / "ot3.toml").read_text(), "ot3.toml")
    assert recipe.decont is not None and recipe.decont.suite == "configs/eval/ot3.toml"
    suite = load_suite(REPO / recipe.decont.suite)
    names = [source.name for source in benchmark_sources(suite)]
    assert names == ["aime24", "aime25", "amc23", "math500", "gpqa-diamond", "livecodebench"]


def test_a_missing_suite_is_a_one_line_error(tmp_path):
    questions = write_questions(tmp_path / "train.jsonl", 3)
    config = tmp_path / "t.toml"
    config.write_text(recipe_toml("http://127.0.0.1:9/v1", questions, tmp_path / "out",
                                  decont=f'suite = "{tmp_path / "nope.toml"}"'))  # fmt: skip
    result = run_cli("run", "--config", str(config), "--quiet")
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip()
        == f"error: {tmp_path / 'nope.toml'}: cannot read: No such file or directory"
    )
