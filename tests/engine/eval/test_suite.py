"""Eval suites decode into typed Structs; errors name the file and the key path."""

from __future__ import annotations

import json

import pytest

from engine.decont import Decontaminator
from engine.errors import ConfigError
from engine.eval import benchmark_sources, load_suite
from engine.eval.suite import GpqaData, LiveCodeBenchData, parse_suite
from engine.records import Question
from engine.specs import DecontSpec
from tests.helpers import REPO, mock_process, run_cli

OT3 = REPO / "configs" / "eval" / "ot3.toml"
DEMO = REPO / "configs" / "eval" / "demo.toml"
EVALCHEMY_MATH = "Problem: {problem}\nMark your solution with \\boxed\nAnswer:"


def test_ot3_suite_has_the_evalchemy_settings():
    suite = load_suite(OT3)
    repeats = {b.name: b.n for b in suite.benchmarks}
    assert repeats == {
        "aime24": 10, "aime25": 10, "amc23": 10, "math500": 1, "gpqa-diamond": 3,
        "livecodebench": 6,
    }  # fmt: skip
    for benchmark in suite.benchmarks:
        sampling = suite.sampling_of(benchmark)
        assert (sampling.temperature, sampling.max_tokens, sampling.top_p) == (0.7, 32768, 1.0)
    for name in ("aime24", "aime25", "amc23", "math500"):
        assert suite.benchmark(name).prompt.user == EVALCHEMY_MATH
        assert suite.benchmark(name).verifier == "math"
    gpqa = suite.benchmark("gpqa-diamond")
    assert isinstance(gpqa.data, GpqaData) and gpqa.verifier == "mcq"
    assert gpqa.prompt.user.startswith("Return your final response within \\boxed{} and only")
    assert (gpqa.data.hf, gpqa.data.hf_config) == ("Idavidrein/gpqa", "gpqa_diamond")
    lcb = suite.benchmark("livecodebench")
    assert isinstance(lcb.data, LiveCodeBenchData) and lcb.verifier == "code"
    assert lcb.data.stdin_prefix.startswith("Generate an executable Python function")
    assert (lcb.data.hf, lcb.data.data_files) == (
        "livecodebench/code_generation_lite",
        ["test.jsonl", "test2.jsonl"],  # release_v2, read without the repo's loading script
    )
    assert suite.benchmark("math500").data.difficulty == "level"
    assert (suite.verify.code.time_s, suite.verify.code.memory_mb) == (6.0, 1024)  # LCB's 6 s


def test_demo_suite_runs_against_the_mock():
    suite = load_suite(DEMO)
    assert suite.mock_teacher is not None and suite.mock_teacher.answer_key
    assert all(b.data.path and (REPO / b.data.path).exists() for b in suite.benchmarks)
    assert all(b.prompt.user == EVALCHEMY_MATH for b in suite.benchmarks)  # OT3's own prompt


BASE = """
name = "t"
[output]
dir = "out"
[[benchmarks]]
name = "a"
verifier = "math"
data = { path = "a.jsonl" }
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("n = 0", "t.toml: benchmarks[1].n: must be at least 1"),
        ("n = 'x'", "t.toml: benchmarks[1].n: expected int, got str"),
        ("bogus = 1", "t.toml: benchmarks[1].bogus: unknown key"),
        ("prompt = { user = 'no placeholder' }", "benchmarks[1].prompt.user: must contain"),
        ("sampling = { top_p = 1.5 }", "t.toml: benchmarks[1].sampling.top_p: must be at most 1"),
        ("metrics = ['avg@n', 'maj@k']", "t.toml: benchmarks[1].metrics[1]: invalid enum value"),
    ],
)
def test_bad_benchmark_keys_are_named(extra, message):
    """Each ``extra`` line goes into a second benchmark: its key path is benchmarks[1]."""
    text = (
        BASE + f"[[benchmarks]]\nname = 'b'\nverifier = 'math'\ndata = {{ path = 'b' }}\n{extra}\n"
    )
    with pytest.raises(ConfigError) as error:
        parse_suite(text, "t.toml")
    assert message in str(error.value)


M = "verifier = 'math'\n"
SEMANTIC = [
    ("name = 'a'\n" + M + "data = { path = 'x' }", "benchmarks[1].name: 'a' is used twice"),
    ("name = '../b'\n" + M + "data = { path = 'x' }", "must be a plain file name"),
    ("name = 'b'\n" + M + "data = { hf_config = 'x' }", "benchmarks[1].data: set hf or path"),
    (
        "name = 'b'\n" + M + "data = { layout = 'gpqa', path = 'x' }",
        "benchmarks[1].data.layout: 'gpqa' data needs verifier 'mcq'",
    ),
    (
        "name = 'b'\nverifier = 'code'\ndata = { layout = 'livecodebench', path = 'x' }\n"
        "metrics = ['maj@n']",
        "benchmarks[1].metrics: maj@n needs a math or mcq verifier",
    ),
    (
        "name = 'b'\nverifier = 'mcq'\ndata = { path = 'x' , fields = { choices = '' } }",
        "benchmarks[1].data.fields.choices: required by verifier 'mcq'",
    ),
    ("name = 'b'\n" + M + "data = { layout = 'csv', path = 'x' }", "invalid value 'csv'"),
]


@pytest.mark.parametrize(("table", "message"), SEMANTIC)
def test_semantic_errors_are_named(table, message):
    with pytest.raises(ConfigError) as error:
        parse_suite(BASE + f"[[benchmarks]]\n{table}\n", "t.toml")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("time_s = 0", "t.toml: verify.code.time_s: must be greater than 0"),
        ("time_s = 'long'", "t.toml: verify.code.time_s: expected float | null, got str"),
        ("memory_mb = 4096", "t.toml: verify.code.memory_mb: must be at most 2048"),
        ("memory_mb = 1.5", "t.toml: verify.code.memory_mb: expected int | null, got float"),
    ],
)
def test_code_limits_are_typed_and_bounded(line, message):
    with pytest.raises(ConfigError) as error:
        parse_suite(BASE + f"[verify.code]\n{line}\n", "t.toml")
    assert message in str(error.value)


def test_bad_verifier_is_named():
    with pytest.raises(ConfigError, match=r"t.toml: benchmarks\[0\].verifier: invalid enum value"):
        parse_suite(BASE.replace('"math"', '"maths"'), "t.toml")


def test_command_line_overrides_are_validated_like_the_file():
    suite = parse_suite(BASE, "t.toml", {"model": {"model": "m", "base_urls": ["http://a/v1"]}})
    assert suite.model.model == "m" and suite.model.base_urls == ["http://a/v1"]
    with pytest.raises(ConfigError, match=r"t.toml: model.max_in_flight: expected int"):
        parse_suite(BASE, "t.toml", {"model": {"max_in_flight": "many"}})


def test_cli_errors_are_one_line_with_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE.replace('verifier = "math"', 'verifier = "maths"'))
    for args in (
        ["--suite", str(bad)],
        ["--suite", str(tmp_path / "missing.toml")],
        ["--suite", str(OT3), "--out", str(tmp_path / "o")],  # no model under test
        ["report", str(tmp_path / "nothing")],
        ["compare", str(tmp_path), str(tmp_path)],
    ):
        result = run_cli("eval", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_benchmark_sources_feed_decontamination(tmp_path):
    """One source of truth: a recipe's decont built from an eval suite drops its problems."""
    sources = benchmark_sources(DEMO)
    assert [s.name for s in sources] == [b.name for b in load_suite(DEMO).benchmarks]
    assert all(s.fields.tests is None and s.fields.choices is None for s in sources)
    decont = Decontaminator(DecontSpec(benchmarks=sources, fuzzy_threshold=0))
    problem = (REPO / "configs/eval/data/demo_aime.jsonl").read_text().splitlines()[3]
    import json

    text = json.loads(problem)["problem"]
    hit = decont(Question(id="x", domain="math", source="train", problem=f"Variant: {text}"))
    assert hit is not None and hit.benchmark == "demo-aime"
    clean = Question(id="y", domain="math", source="train", problem="What is 2 + 2?")
    assert decont(clean) is None
    ot3 = benchmark_sources(OT3)  # loads without a model: decont needs only the data
    assert [s.hf for s in ot3][-1] == "livecodebench/code_generation_lite"
    assert ot3[-1].fields.problem == "question_content"


def test_a_model_named_on_the_command_line_replaces_the_suites_mock(tmp_path):
    """--base-url names the model under test: the demo suite's [mock_teacher] (60% correct) is
    not started; the given server (its own mock, 100% correct on the same key) answers."""
    keys = [
        REPO / "configs/eval/data/demo_math500.jsonl",
        REPO / "configs/eval/data/demo_aime.jsonl",
    ]
    key = tmp_path / "key.jsonl"
    key.write_text("".join(p.read_text() for p in keys))
    with mock_process("--answer-key", str(key), "--correct-rate", "1.0") as url:
        out = tmp_path / "out"
        result = run_cli(
            "eval", "--suite", str(DEMO), "--base-url", url, "--model", "served", "--out",
            str(out), "--quiet",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert all(b["avg"]["mean"] == 1.0 for b in results["benchmarks"])
    assert results["model"]["base_url"] == url and results["model"]["model"] == "served"
