"""The mock teacher finds each question of the OT3 suite in the prompt the engine renders with
that suite's own templates (Evalchemy's ``Problem: {problem}`` puts a prefix on the problem's
first line), so offline suites can use the real prompts."""

from __future__ import annotations

import msgspec
import pytest

from engine.eval.layouts import benchmark_questions
from engine.eval.suite import load_suite
from engine.prompts import render, with_options
from engine.records import Question
from engine.testing.answer_key import AnswerKey, KeyRow, rows_of
from engine.testing.options import MockOptions
from engine.testing.replies import Composer
from tests.engine.eval.suites import math_rows, write_jsonl
from tests.helpers import DATA, REPO
from verifiers import mcq
from verifiers.math import verify

OT3 = load_suite(REPO / "configs" / "eval" / "ot3.toml")
GPQA = DATA / "eval" / "gpqa_diamond.jsonl"


def _questions(name: str, path: str) -> list[Question]:
    benchmark = OT3.benchmark(name)
    data = msgspec.structs.replace(benchmark.data, hf=None, path=path)
    return list(benchmark_questions(msgspec.structs.replace(benchmark, data=data)))


@pytest.mark.parametrize("name", ["aime24", "aime25", "amc23", "math500"])
def test_math_prompts_of_the_ot3_suite_are_answered_from_the_key(tmp_path, name):
    rows = [row | {"unique_id": row["id"], "question": row["problem"]} for row in math_rows(30)]
    path = write_jsonl(tmp_path / "q.jsonl", rows)  # the field names of every ot3 math layout
    questions = _questions(name, str(path))
    composer = Composer(MockOptions(correct_rate=1.0), AnswerKey(rows_of(questions)))
    prompt = OT3.benchmark(name).prompt
    assert prompt.user.startswith("Problem: {problem}")  # the prefix this is about
    for seed, question in enumerate(questions):
        user = render(prompt, question.problem)[-1].content
        reply = composer.reply(user, seed)
        assert reply.outcome == "correct", user
        assert verify(reply.text, question.answer).passed


def test_gpqa_prompts_of_the_ot3_suite_are_answered_from_the_key():
    questions = _questions("gpqa-diamond", str(GPQA))
    composer = Composer(MockOptions(correct_rate=1.0), AnswerKey(rows_of(questions)))
    prompt = OT3.benchmark("gpqa-diamond").prompt
    for seed, question in enumerate(questions):
        options, letter = mcq.shuffle_choices(question.choices, question.answer, seed)
        user = render(prompt, with_options(question, options))[-1].content
        assert user.splitlines()[1] == f"Problem: {question.problem.splitlines()[0]}"
        reply = composer.reply(user, seed)
        assert reply.outcome == "correct" and mcq.verify(reply.text, letter).passed


def test_a_prefixed_line_counts_only_with_its_whole_problem_in_the_prompt():
    two_lines = KeyRow("Compute 2 + 3.\nThen double it.", "10")
    short = KeyRow("Hi", "1")
    key = AnswerKey([two_lines, short])
    assert key.find("Problem: Compute 2 + 3.\nThen double it.\nAnswer:") == two_lines
    assert key.find("Problem: Compute 2 + 3.\nThen triple it.") is None  # another problem
    assert key.find("Compute 2 + 3.\nThen triple it.") == two_lines  # an exact line, as before
    assert key.find("Say: Hi") == short  # first lines shorter than the indexed tail
    assert key.find("Say: Hi there") is None and key.find("Problem:") is None
