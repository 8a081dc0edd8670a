"""Answer-key mode for multiple choice and code: the letter of the gold option among the
prompt's (shuffled) options at the correct rate, else another letter; the reference program at
the correct rate, else a broken one (wrong output, exception or syntax error) that the real code
verifier, in the Docker sandbox, fails."""

from __future__ import annotations

import json
import math
from collections import Counter

import msgspec
import pytest

from engine.prompts import with_options
from engine.records import Question
from engine.testing.answer_key import AnswerKey, KeyRow, options_in
from engine.testing.options import MockOptions
from engine.testing.replies import Composer
from sandbox import Pool
from tests.helpers import SHARED_DATA, TIGHT
from verifiers import mcq
from verifiers.code import CodeVerifier

# TIGHT's memory limit, with wall time to spare on a loaded machine (a harness run needs ~0.1 s)
LIMITS = msgspec.structs.replace(TIGHT, time_s=10.0, wall_s=30.0)

CHOICES = ["Nitrogen", "Oxygen", "Argon", "Carbon dioxide"]
MCQ = Question("gas", "science", "s", "Which gas makes up most of the air?", "Nitrogen",
               choices=CHOICES)  # fmt: skip


def mcq_prompt(seed: int) -> tuple[str, str]:
    options, letter = mcq.shuffle_choices(CHOICES, "Nitrogen", seed)
    return f"{with_options(MCQ, options)}\n\nAnswer with the letter.", letter


def test_options_are_read_from_the_prompt() -> None:
    prompt, letter = mcq_prompt(3)
    options = options_in(prompt)
    assert sorted(options.values()) == sorted(CHOICES) and options[letter] == "Nitrogen"
    assert options_in("A) only one option") == {}


@pytest.mark.parametrize("replies", ["plain", "realistic"])
def test_mcq_answers_the_gold_letter_at_the_correct_rate(replies: str) -> None:
    rate, total = 0.55, 600
    row = KeyRow(MCQ.problem, MCQ.answer, CHOICES)
    composer = Composer(MockOptions(correct_rate=rate, replies=replies, trace_kb=(1, 2)),
                        AnswerKey([row]))  # fmt: skip
    passed, wrong_letters, gold_letters = 0, Counter(), Counter()
    for seed in range(total):
        prompt, letter = mcq_prompt(seed)
        reply = composer.reply(prompt, seed)
        verdict = mcq.verify(reply.text, letter)
        assert verdict.passed == (reply.outcome == "correct"), (reply.outcome, verdict)
        passed += verdict.passed
        gold_letters[letter] += 1
        if not verdict.passed:
            assert verdict.status == "wrong_answer" and verdict.answer != letter
            wrong_letters[verdict.answer] += 1
    sigma = math.sqrt(rate * (1 - rate) / total)
    assert abs(passed / total - rate) < 4 * sigma
    assert set(wrong_letters) == set(gold_letters) == set("ABCD")  # shuffled, so every letter


def test_mcq_hostile_replies_never_pass_and_an_unknown_gold_is_unkeyed() -> None:
    row = KeyRow(MCQ.problem, MCQ.answer, CHOICES)
    composer = Composer(MockOptions(correct_rate=0, hostile_rate=1), AnswerKey([row]))
    for seed in range(40):
        prompt, letter = mcq_prompt(seed)
        assert not mcq.verify(composer.reply(prompt, seed).text, letter).passed
    other = Composer(MockOptions(), AnswerKey([KeyRow(MCQ.problem, "Helium", CHOICES)]))
    assert other.reply(mcq_prompt(0)[0], 0).outcome == "unkeyed"


# -- code, through the real code verifier

SUM_TESTS = [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6\n"}]
PY_SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
CPP_SUM = "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}\n"
ADD = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        return a + b\n"
ADD_TESTS = {
    "functional": "def check(candidate):\n    assert candidate(a=1, b=2) == 3\n"
    "    assert candidate(a=-1, b=1) == 0\n\ncheck(Solution().add)"
}


def code_cases() -> list[tuple[str, str, str, object]]:
    """(problem, solution, language, tests): the project's fixtures, and real LeetCode problems
    with their accepted reference solutions when the shared data is present."""
    cases = [
        ("Read two integers and print their sum.", PY_SUM, "python", SUM_TESTS),
        ("Print the sum of two integers (C++).", CPP_SUM, "cpp", SUM_TESTS),
        ("Implement Solution.add(a, b).", ADD, "python", ADD_TESTS),
    ]
    leetcode = SHARED_DATA / "code" / "leetcode.json"
    if leetcode.exists():
        for row in json.loads(leetcode.read_text())[:6]:
            cases.append((row["problem"], row["solutions"], "python", row["tests"]))
    return cases


def broken_kind(program: str) -> str:
    if "mock teacher: a broken program" in program or "mock_broken" in program:
        return "exception"
    if "def broken(:" in program or "this line is not C++" in program:
        return "syntax_error"
    assert program.startswith(("print(0)", "#include <cstdio>\nstatic const int mock_extra"))
    return "wrong_output"


EXPECTED = {
    "exception": {"runtime_error"},
    "syntax_error": {"compile_error", "runtime_error"},
    "wrong_output": {"wrong_answer"},
}


@pytest.mark.docker
@pytest.mark.asyncio(loop_scope="session")
async def test_code_answers_are_the_reference_or_a_broken_program(docker_pool: Pool) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    cases = code_cases()
    rows = [KeyRow(p, solution=s, language=lang) for p, s, lang, _ in cases]
    composer = Composer(MockOptions(correct_rate=0.5), AnswerKey(rows))
    kinds: Counter[tuple[str, str]] = Counter()
    for problem, _solution, language, tests in cases:
        for seed in range(8):
            reply = composer.reply(f"{problem}\n\nWrite a complete program.", seed)
            verdict = await verifier.verify(reply.text, tests)
            program = reply.text.split("```")[1].split("\n", 1)[1]
            if reply.outcome == "correct":
                assert verdict.passed, (problem[:40], verdict)
                continue
            assert reply.outcome == "wrong"
            kind = broken_kind(program)
            assert verdict.status in EXPECTED[kind], (problem[:40], kind, verdict)
            kinds[(language, kind)] += 1
    assert {kind for _, kind in kinds} == set(EXPECTED)  # every kind of broken program seen
    assert ("cpp", "wrong_output") in kinds or ("cpp", "exception") in kinds


@pytest.mark.docker
@pytest.mark.asyncio(loop_scope="session")
async def test_hostile_code_replies_never_pass(docker_pool: Pool) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    row = KeyRow("Read two integers and print their sum.", solution=PY_SUM)
    composer = Composer(MockOptions(correct_rate=0, hostile_rate=1), AnswerKey([row]))
    statuses = Counter()
    for seed in range(12):
        verdict = await verifier.verify(composer.reply(row.problem, seed).text, SUM_TESTS)
        statuses[verdict.status] += 1
    assert "passed" not in statuses and len(statuses) >= 2, statuses
