"""Benchmark data in its published layouts: GPQA (Idavidrein/gpqa) and LiveCodeBench
(livecodebench/code_generation_lite) fixtures written in those layouts, read as local JSONL,
Parquet and through ``datasets`` from a local folder; the shared benchmark copies when present.
LiveCodeBench's pickled private tests load only as plain data."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
import zlib
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest

from engine.errors import ConfigError
from engine.eval import lcb
from engine.eval.layouts import benchmark_questions
from engine.eval.lcb import TestCaseError, decode_test_cases, load_plain_pickle
from engine.eval.suite import parse_suite
from engine.sources import SourceError
from engine.sources.hf import resolve_data_files
from engine.specs import SourceSpec
from tests.helpers import DATA, shared_file
from verifiers.code.tests import parse_tests

FIXTURES = DATA / "eval"
GPQA = FIXTURES / "gpqa_diamond.jsonl"
LCB = FIXTURES / "lcb_code_generation_lite.jsonl"


def _benchmark(table: str):
    text = f'name = "t"\n[output]\ndir = "o"\n[[benchmarks]]\n{table}\n'
    return parse_suite(text, "t.toml").benchmarks[0]


def _gpqa(data: str):
    return _benchmark(
        f'name = "gpqa"\nverifier = "mcq"\nn = 3\ndata = {{ layout = "gpqa", {data} }}'
    )


def test_gpqa_layout_gives_four_choices_with_the_correct_one_as_answer():
    questions = list(benchmark_questions(_gpqa(f'path = "{GPQA}"')))
    rows = [json.loads(line) for line in GPQA.read_text().splitlines()]
    assert len(questions) == len(rows) == 12
    for question, row in zip(questions, rows, strict=True):
        assert question.problem == row["Question"] and question.domain == "science"
        assert question.answer == row["Correct Answer"] == question.choices[0]
        assert question.choices[1:] == [row[f"Incorrect Answer {i}"] for i in (1, 2, 3)]
        assert question.id.startswith("gpqa:")


def test_gpqa_layout_reads_parquet_and_a_local_hub_folder(tmp_path, monkeypatch):
    rows = [json.loads(line) for line in GPQA.read_text().splitlines()]
    parquet = tmp_path / "gpqa.parquet"
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), parquet)
    from_parquet = list(benchmark_questions(_gpqa(f'path = "{parquet}"')))
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    hub = tmp_path / "hub"
    hub.mkdir()
    shutil.copy(GPQA, hub / "train.jsonl")  # the split a hub dataset names "train"
    from_hub = list(benchmark_questions(_gpqa(f'hf = "{hub}", split = "train"')))
    from_jsonl = list(benchmark_questions(_gpqa(f'path = "{GPQA}"')))
    assert from_parquet == from_jsonl == from_hub


def _lcb(data: str = f'path = "{LCB}"', prefixes: str = ""):
    table = (
        f'name = "lcb"\nverifier = "code"\ndata = {{ layout = "livecodebench", {data}{prefixes} }}'
    )
    return _benchmark(table)


def test_livecodebench_layout_decodes_public_and_private_tests():
    questions = list(benchmark_questions(_lcb()))
    assert [q.metadata["difficulty"] for q in questions] == ["easy", "medium", "hard"] * 2
    stdin, call = questions[0], questions[3]
    assert stdin.id == "lcb:abc301_a" and stdin.metadata["test_type"] == "stdin"
    assert stdin.tests == [
        {"input": "1 2\n", "output": "3\n"},  # public first
        {"input": "10 20\n", "output": "30\n"},  # then the decoded private ones
        {"input": "-5 5\n", "output": "0\n"},
        {"input": "1000000000 1000000000\n", "output": "2000000000\n"},
    ]
    assert "```" not in stdin.problem  # no starter code: the problem text alone
    rows = [json.loads(line) for line in LCB.read_text().splitlines()]
    assert [q.metadata["solution"] for q in questions] == [row["solution"] for row in rows]
    other = _lcb(f'path = "{LCB}", solution = "question_title"')  # the field is configurable
    assert next(benchmark_questions(other)).metadata["solution"] == "Sum of Two"
    assert call.tests == {
        "call": {
            "fn_name": "addNumbers",
            "cases": [
                {"input": "12\n5", "output": "17"},
                {"input": "-10\n4", "output": "-6"},
                {"input": "0\n0", "output": "0"},
            ],
        }
    }
    assert call.problem.endswith(
        "```python\nclass Solution:\n    def addNumbers(self, num1: int, num2: int) -> int:\n"
        "        \n```"
    )
    for question in questions[:3]:
        parse_tests(question.tests)  # stdin tests in the code verifier's accepted shape


def test_livecodebench_release_files_load_through_data_files_without_the_script(tmp_path):
    """A local folder laid out like the hub repo: its loading script (which ``datasets`` 5
    refuses to run) beside the release files; ``data_files`` reads the files as the split."""
    pytest.importorskip("datasets")
    repo = tmp_path / "code_generation_lite"
    repo.mkdir()
    (repo / "code_generation_lite.py").write_text("import datasets  # the loading script\n")
    lines = LCB.read_text().splitlines(keepends=True)
    (repo / "test.jsonl").write_text("".join(lines[:3]))  # release_v1
    (repo / "test2.jsonl").write_text("".join(lines[3:]))  # what release_v2 adds
    from_files = list(benchmark_questions(_lcb(f'path = "{LCB}"')))
    release_v2 = f'hf = "{repo}", data_files = ["test.jsonl", "test2.jsonl"]'
    assert list(benchmark_questions(_lcb(release_v2))) == from_files
    release_v1 = f'hf = "{repo}", data_files = ["test.jsonl"]'
    assert list(benchmark_questions(_lcb(release_v1))) == from_files[:3]
    with pytest.raises(SourceError, match="Dataset scripts are no longer supported"):
        list(benchmark_questions(_lcb(f'hf = "{repo}"')))  # why data_files is needed
    with pytest.raises(SourceError, match=r"cannot tell the format of 'test\.txt'"):
        list(benchmark_questions(_lcb(f'hf = "{repo}", data_files = ["test.txt"]')))


def test_data_files_resolve_to_the_hub_or_the_folder(tmp_path):
    assert resolve_data_files(
        "livecodebench/code_generation_lite", ["test.jsonl", "test6.jsonl"]
    ) == (
        "json",
        [
            "hf://datasets/livecodebench/code_generation_lite/test.jsonl",
            "hf://datasets/livecodebench/code_generation_lite/test6.jsonl",
        ],
    )
    assert resolve_data_files(str(tmp_path), ["a.parquet"]) == (
        "parquet",
        [str(tmp_path / "a.parquet")],
    )
    with pytest.raises(ValueError, match="several formats"):
        resolve_data_files("x/y", ["a.jsonl", "b.parquet"])
    with pytest.raises(ConfigError, match=r"benchmarks\[0\].data.data_files: needs hf"):
        _lcb('path = "x", data_files = ["test.jsonl"]')
    with pytest.raises(ValueError, match="source 's': data_files needs hf"):
        SourceSpec(name="s", domain="code", path="x", data_files=["test.jsonl"])


def test_livecodebench_prefix_depends_on_the_test_type():
    data = f'path = "{LCB}"'
    prefixes = ', stdin_prefix = "STDIN: ", call_prefix = "CALL: ", starter_code = false'
    questions = list(benchmark_questions(_lcb(data, prefixes)))
    assert [q.problem.split(":")[0] for q in questions] == ["STDIN"] * 3 + ["CALL"] * 3
    assert all("```" not in q.problem for q in questions)


def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = Path("/tmp/thoughtmill-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(SourceError) as error:
        list(benchmark_questions(_lcb(f'path = "{FIXTURES / "lcb_malicious.jsonl"}"')))
    message = str(error.value)
    assert "lcb_malicious.jsonl, line 1" in message
    assert "refused pickle: it names posix.system (only plain data loads)" in message
    assert not marker.exists()


class _Call:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_Call()),  # REDUCE on builtins.eval
        pickle.dumps(_Call, protocol=0),  # a class named by GLOBAL
        pickle.dumps(Path("/etc/passwd")),  # an object to rebuild
    ],
    ids=["reduce-eval", "global-class", "object"],
)
def test_the_unpickler_refuses_anything_but_plain_data(payload):
    with pytest.raises(TestCaseError, match="refused pickle: it names"):
        load_plain_pickle(payload)


def test_the_unpickler_loads_plain_data():
    data = {"tests": ["a", "b"], "n": (1, 2.5, None, True), "raw": b"x"}
    for protocol in range(3, pickle.HIGHEST_PROTOCOL + 1):  # 0-2 build bytes by a global call
        assert load_plain_pickle(pickle.dumps(data, protocol=protocol)) == data


def test_plain_test_data_round_trips_and_bombs_stop(monkeypatch):
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()
    assert (
        decode_test_cases(packed)
        == decode_test_cases(json.dumps(tests))
        == decode_test_cases(tests)
    )
    monkeypatch.setattr(lcb, "MAX_DECODED_BYTES", 1000)
    bomb = base64.b64encode(zlib.compress(pickle.dumps("x" * 100_000))).decode()
    with pytest.raises(TestCaseError, match="decompresses to more than 1000 bytes"):
        decode_test_cases(bomb)
    with pytest.raises(TestCaseError, match="unexpected test case shape"):
        decode_test_cases('[{"input": "1"}]')
    with pytest.raises(TestCaseError, match="neither JSON nor base64"):
        decode_test_cases("not base64 at all!")


def test_shared_math_copies_load_with_difficulty():
    path = shared_file("math/math500.json")
    table = (
        f'name = "math500"\nverifier = "math"\n'
        f'data = {{ path = "{path}", fields = {{ id = "unique_id" }}, difficulty = "difficulty" }}'
    )
    questions = list(benchmark_questions(_benchmark(table)))
    assert len(questions) == 500 and all(q.answer for q in questions)
    assert {q.metadata["difficulty"] for q in questions} == {"1", "2", "3", "4", "5"}
    for name, count in (("aime2024", 30), ("amc", 83), ("minerva", 272), ("olympiad_bench", 675)):
        path = shared_file(f"math/{name}.json")
        table = f'name = "{name}"\nverifier = "math"\ndata = {{ path = "{path}" }}'
        assert sum(1 for _ in benchmark_questions(_benchmark(table))) == count


def test_shared_code_copies_load_as_code_benchmarks():
    for name, count in (("code_contests", 165), ("codeforces", 408)):
        path = shared_file(f"code/{name}.json")
        table = f'name = "{name}"\nverifier = "code"\ndata = {{ path = "{path}" }}'
        questions = list(benchmark_questions(_benchmark(table)))
        assert len(questions) == count
        for question in questions:
            parse_tests(question.tests)
