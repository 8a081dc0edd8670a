"""Scoring through the engine's verifiers against the mock teacher's known correct rate (math,
GPQA, LiveCodeBench in the Docker sandbox), GPQA's per-sample shuffles (uniform correct letter;
a model that always answers D scores about 25%; the letter is the final answer's, never one
from the reasoning), and LiveCodeBench's per-test time limits. Behaviours the mock does not
script (always D, a letter planted in the reasoning, an endless loop) come from a scripted
model server (tests/engine/eval/answering.py)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from engine.eval.prepare import load_questions
from engine.eval.results import compute_results, read_samples
from engine.eval.runner import EvalRun
from engine.eval.suite import load_suite
from engine.testing.answer_key import AnswerKey, rows_of
from engine.testing.options import MockOptions
from engine.testing.replies import Composer
from tests.engine.eval.answering import answering_server, options
from tests.engine.eval.suites import benchmark_table, math_rows, write_jsonl, write_suite
from tests.helpers import DATA, require_docker
from verifiers.mcq import shuffle_choices

GPQA = DATA / "eval" / "gpqa_diamond.jsonl"
LCB = DATA / "eval" / "lcb_code_generation_lite.jsonl"
LCB_ROWS = [json.loads(line) for line in LCB.read_text().splitlines()]
GPQA_PROMPT = (
    "Return your final response within \\boxed{} and only include the letter choice "
    "(A, B, C, or D) as your final response.\nProblem: {problem}\nAnswer:"
)
CHI2_DF3_P001 = 16.27  # chi-square critical value, 3 degrees of freedom, p = 0.001


async def _evaluate(tmp_path: Path, benchmark: str, url: str | None = None, **suite_args):
    tmp_path.mkdir(exist_ok=True)
    out = tmp_path / "out"
    model = ""
    if url:  # the scripted model under test, not the mock
        model = f'model = "scripted"\nbase_url = "{url}"\nmax_in_flight = 16'
        suite_args.setdefault("mock", None)
    suite = load_suite(
        write_suite(tmp_path / "s.toml", out, [benchmark], model=model, **suite_args)
    )
    assert await EvalRun(suite, out).run() == 0
    (result,) = compute_results(out).benchmarks
    return out, result


@pytest.mark.parametrize("rate", [0.25, 0.8])
async def test_math_accuracy_equals_the_mocks_correct_rate(tmp_path, rate):
    data = write_jsonl(tmp_path / "q.jsonl", math_rows(120))
    bench = benchmark_table("m", "math", 5, {"path": str(data), "fields": {"id": "id"}})
    _, result = await _evaluate(tmp_path, bench, mock=f"correct_rate = {rate}")
    samples = 120 * 5
    assert result.scored == samples and not result.unscored
    assert abs(result.avg.mean - rate) < 4 * math.sqrt(rate * (1 - rate) / samples)
    assert result.pass_at_k[0] == pytest.approx(result.avg.mean)
    assert result.pass_at_k[-1] >= 1 - (1 - rate) ** 5 - 0.1  # a question passes if any sample does
    assert result.maj is not None


def _gpqa_bench(n: int) -> str:
    return benchmark_table("gpqa", "mcq", n, {"layout": "gpqa", "path": str(GPQA)}, GPQA_PROMPT)


def _assert_the_mocks_choices(out: Path, name: str, rate: float) -> list:
    """Each sample passed exactly when the mock chose to answer it correctly (its choice is
    deterministic in prompt and seed), and the share of those is the rate within sampling
    error; returns the samples."""
    questions = load_questions(name, out / name)
    composer = Composer(MockOptions(correct_rate=rate), AnswerKey(rows_of(questions)))
    samples = read_samples(out / name, name)
    for sample in samples:
        prompt = "\n".join(m.content for m in sample.messages)
        outcome = composer.reply(prompt, sample.seed).outcome
        assert outcome in ("correct", "wrong"), (outcome, prompt)  # the key found every one
        assert sample.verdict.passed == (outcome == "correct"), (outcome, sample.verdict)
    passed = sum(s.verdict.passed for s in samples) / len(samples)
    assert abs(passed - rate) < 4 * math.sqrt(rate * (1 - rate) / len(samples)), passed
    return samples


async def test_gpqa_accuracy_equals_the_mocks_correct_rate(tmp_path):
    rate, n = 0.6, 40
    out, result = await _evaluate(tmp_path, _gpqa_bench(n), mock=f"correct_rate = {rate}")
    samples = _assert_the_mocks_choices(out, "gpqa", rate)
    assert len(samples) == result.scored == 12 * n and not result.unscored
    assert abs(result.avg.mean - rate) < 4 * math.sqrt(rate * (1 - rate) / len(samples))
    assert result.pass_at_k[0] == pytest.approx(result.avg.mean) and result.maj is not None
    assert set(result.letters["chosen"]) == set("ABCD")  # right letters are shuffled, as wrong


async def test_gpqa_shuffle_is_uniform_and_always_d_scores_a_quarter(tmp_path):
    n = 40
    async with answering_server(lambda prompt, seed: "<think>Hmm.</think> \\boxed{D}") as url:
        out, result = await _evaluate(tmp_path, _gpqa_bench(n), url)
    samples = read_samples(out / "gpqa", "gpqa")
    assert len(samples) == result.scored == 12 * n
    keys = Counter(s.mcq_key for s in samples)
    expected = len(samples) / 4
    chi2 = sum((keys[letter] - expected) ** 2 / expected for letter in "ABCD")
    assert chi2 < CHI2_DF3_P001, keys
    assert abs(result.avg.mean - 0.25) < 4 * math.sqrt(0.25 * 0.75 / len(samples))
    assert result.letters == {"key": dict(sorted(keys.items())), "chosen": {"D": len(samples)}}
    questions = {q.id: q for q in load_questions("gpqa", out / "gpqa")}
    for sample in samples:  # the recorded seed reproduces each sample's shuffle and prompt
        q = questions[sample.question_id]
        shuffled, key = shuffle_choices(q.choices, q.answer, sample.seed)
        assert key == sample.mcq_key
        assert list(options(sample.messages[-1].content).values()) == shuffled


def _letter_of(prompt: str, text: str) -> str:
    return next(letter for letter, option in options(prompt).items() if option == text)


async def test_gpqa_letter_comes_from_the_final_answer_not_the_reasoning(tmp_path):
    right = {json.loads(line)["Question"]: json.loads(line)["Correct Answer"] for line in
             GPQA.read_text().splitlines()}  # fmt: skip

    def correct(prompt: str) -> str:
        return _letter_of(prompt, next(a for q, a in right.items() if q in prompt))

    def wrong_after_right_reasoning(prompt: str, seed: int) -> str:
        key = correct(prompt)
        other = next(letter for letter in "ABCD" if letter != key)
        return f"<think>It must be ({key}), option {key}.</think> The answer is \\boxed{{{other}}}"

    def right_after_wrong_reasoning(prompt: str, seed: int) -> str:
        key = correct(prompt)
        others = ", ".join(f"({letter})" for letter in "ABCD" if letter != key)
        return f"<think>Not {others}... answer is {others[-2]}?</think>\n\nAnswer: {key}"

    async with answering_server(wrong_after_right_reasoning) as url:
        _, fooled = await _evaluate(tmp_path / "a", _gpqa_bench(3), url)
    async with answering_server(right_after_wrong_reasoning) as url:
        _, right_answer = await _evaluate(tmp_path / "b", _gpqa_bench(3), url)
    assert (fooled.avg.mean, fooled.maj) == (0.0, 0.0)
    assert (right_answer.avg.mean, right_answer.maj) == (1.0, 1.0)


@pytest.mark.docker
async def test_livecodebench_accuracy_equals_the_mocks_correct_rate(tmp_path):
    """The fixture ships a reference program per problem (``solution``), stdin and call-based:
    the mock writes it at the correct rate, else a broken one, and the Docker sandbox judges
    every sample (call-based ones by calling the function, a process per test)."""
    require_docker()
    rate, n = 0.5, 16
    data = {"layout": "livecodebench", "path": str(LCB)}
    bench = benchmark_table("lcb", "code", n, data, "{problem}")
    extra = '[verify.code]\nsandbox = "docker"'
    out, result = await _evaluate(tmp_path, bench, mock=f"correct_rate = {rate}", extra=extra)
    questions = load_questions("lcb", out / "lcb")
    assert all(q.metadata["solution"] for q in questions)  # the layout kept the programs
    assert [q.metadata["test_type"] for q in questions] == ["stdin"] * 3 + ["call"] * 3
    samples = _assert_the_mocks_choices(out, "lcb", rate)
    assert len(samples) == result.scored == 6 * n and not result.unscored
    kinds = {q.id: q.metadata["test_type"] for q in questions}
    passed = Counter(kinds[s.question_id] for s in samples if s.verdict.passed)
    assert passed["stdin"] and passed["call"]  # both kinds of test pass the reference program
    statuses = Counter(s.verdict.status for s in samples)
    assert set(statuses) <= {"passed", "wrong_answer", "runtime_error", "compile_error"}
    assert list(result.difficulty) == ["easy", "medium", "hard"]


def _big_or_endless(prompt: str, seed: int) -> str:
    """For even seeds the problem's reference program after taking 700 MiB, more than the
    sandbox's default 512 MiB; for odd seeds an endless loop."""
    code = next(row["solution"] for row in LCB_ROWS if row["question_content"] in prompt)
    code = f"block = bytes(700 << 20)\n{code}"
    if seed % 2:
        code = "while True:\n    pass\n"
    return f"<think>Let me write it.</think>\n```python\n{code}```"


async def _limits_run(tmp_path: Path, limits: str) -> tuple[Counter, list[str]]:
    """(statuses by seed parity, failure details) of 4 samples of one stdin problem."""
    data = {"layout": "livecodebench", "path": str(LCB), "limit": 1}
    bench = benchmark_table("lcb", "code", 4, data, "{problem}")
    extra = f'[verify.code]\nsandbox = "docker"\n{limits}'
    async with answering_server(_big_or_endless) as url:
        out, result = await _evaluate(tmp_path, bench, url, extra=extra)
    samples = read_samples(out / "lcb", "lcb")
    assert len(samples) == result.scored == 4 and not result.unscored
    statuses = Counter((s.seed % 2, s.verdict.status) for s in samples)
    return statuses, [s.verdict.detail for s in samples if not s.verdict.passed]


@pytest.mark.docker
async def test_verify_code_limits_reach_the_sandbox_per_test(tmp_path):
    """``[verify.code] time_s / memory_mb`` are each test's limits: 700 MiB passes under 1024
    and fails under the default 512; the endless loop stops at the CPU limit given (or at its
    wall time, twice that plus one, on a loaded machine)."""
    require_docker()
    # seeds are question seed + index: two even and two odd of the four
    statuses, details = await _limits_run(tmp_path / "a", "time_s = 0.5\nmemory_mb = 1024")
    assert statuses == {(0, "passed"): 2, (1, "timeout"): 2}, statuses
    assert all(re.search(r"(CPU time limit of 0.5 s|wall time limit of 2 s) exceeded", detail)
               for detail in details), details  # fmt: skip
    statuses, details = await _limits_run(tmp_path / "b", "time_s = 0.5")
    assert statuses == {(0, "memory_limit"): 2, (1, "timeout"): 2}, statuses
    assert sum("memory limit of 512 MiB exceeded" in detail for detail in details) == 2, details
