"""Scoring through the engine's verifiers: math against the mock's known correct rate, GPQA with
per-sample shuffles (uniform correct letter; a model that always answers D scores about 25%;
the letter is the final answer's, never one from the reasoning), LiveCodeBench in the Docker
sandbox with per-test time limits."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from engine.eval.prepare import load_questions
from engine.eval.results import compute_results, read_samples
from engine.eval.runner import EvalRun
from engine.eval.suite import load_suite
from tests.engine.eval.answering import answering_server, options
from tests.engine.eval.suites import benchmark_table, math_rows, write_jsonl, write_suite
from tests.helpers import DATA, require_docker
from verifiers.mcq import shuffle_choices

GPQA = DATA / "eval" / "gpqa_diamond.jsonl"
LCB = DATA / "eval" / "lcb_code_generation_lite.jsonl"
SOLUTIONS = json.loads((DATA / "eval" / "lcb_solutions.json").read_text())
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


def _program(prompt: str, seed: int) -> str:
    """The reference program of the problem asked, for even seeds; a wrong one or an endless
    loop for odd ones."""
    qid = next(q for q in SOLUTIONS if f"[{q}]" in prompt or _title(q) in prompt)
    if seed % 2 == 0:
        code = SOLUTIONS[qid]
    elif seed % 4 == 1:
        code = "print('wrong')\n"
    else:
        code = "while True:\n    pass\n"
    return f"<think>Let me write it.</think>\n```python\n{code}```"


_TITLES = {json.loads(line)["question_id"]: json.loads(line)["question_content"]
           for line in LCB.read_text().splitlines()}  # fmt: skip


def _title(qid: str) -> str:
    return _TITLES[qid]


@pytest.mark.docker
async def test_livecodebench_stdin_problems_run_in_the_docker_sandbox(tmp_path):
    require_docker()
    data = {"layout": "livecodebench", "path": str(LCB), "limit": 3}  # the stdin problems
    bench = benchmark_table("lcb", "code", 8, data, "{problem}")
    extra = '[verify.code]\nsandbox = "docker"'
    async with answering_server(_program) as url:
        out, result = await _evaluate(tmp_path, bench, url, extra=extra)
    samples = read_samples(out / "lcb", "lcb")
    statuses = Counter((s.seed % 2 == 0, s.verdict.status) for s in samples)
    # seeds alternate: question seed + index, so each question has 4 even-seed samples
    assert statuses[(True, "passed")] == 12, statuses
    assert statuses[(False, "wrong_answer")] + statuses[(False, "timeout")] == 12, statuses
    assert statuses[(False, "timeout")] > 0  # the endless loop met the per-test time limit
    assert result.avg.mean == 0.5 and not result.unscored
    assert list(result.difficulty) == ["easy", "medium", "hard"]
