"""Realistic replies: deterministic in (prompt, seed), traces of the configured length, and a
final answer whose correctness the mock decided: verified passes equal the mock's own count of
correct replies, and the pass rate is the configured rate within sampling error."""

from __future__ import annotations

import math
import re

import aiohttp

from engine.scoring.rubric import RUBRIC_USER
from engine.testing.answer_key import AnswerKey, KeyRow, write_key
from engine.testing.options import MockOptions
from engine.testing.rating import mock_rating, rating_reply
from engine.testing.replies import Composer
from engine.testing.tokens import count_tokens
from tests.engine.testing.test_math_answers import SHAPES
from verifiers.math import verify

GOLDS = list(SHAPES)
ROWS = [KeyRow(f"Problem {i}: find the value described.", gold) for i, gold in enumerate(GOLDS)]


def prompt(i: int) -> str:
    return f"{ROWS[i].problem}\n\nPut your final answer within \\boxed{{}}."


def composer(**options) -> Composer:
    return Composer(MockOptions(**options), AnswerKey(ROWS))


def test_replies_are_deterministic_in_prompt_and_seed_and_count_their_tokens() -> None:
    one, other = composer(replies="realistic"), composer(replies="realistic")
    assert one.reply(prompt(0), 5) == other.reply(prompt(0), 5)
    assert one.reply(prompt(0), 5).text != one.reply(prompt(0), 6).text
    assert one.reply(prompt(0), 5).text != one.reply(prompt(1), 5).text
    for mode in ("plain", "realistic"):
        c = composer(replies=mode, hostile_rate=0.3, trace_kb=(1, 2))
        for seed in range(60):
            reply = c.reply(prompt(seed % len(ROWS)), seed)
            assert reply.tokens == count_tokens(reply.text), (mode, reply.outcome)


def test_traces_have_the_configured_length_and_intermediate_boxed_values() -> None:
    c = composer(replies="realistic", trace_kb=(4, 8))
    sizes, intermediate = [], 0
    for seed in range(40):
        text = c.reply(prompt(seed % len(ROWS)), seed).text
        thinking = text[len("<think>\n") : text.index("\n</think>")]
        sizes.append(len(thinking))
        intermediate += "\\boxed{" in thinking
    assert min(sizes) >= 4 * 1024 and max(sizes) <= 8 * 1024 + 200
    assert max(sizes) - min(sizes) > 1024  # lengths spread over the range
    assert intermediate >= 30  # realistic traces box values on the way


def test_plain_replies_keep_their_token_budget() -> None:
    c = composer(completion_tokens=300)
    tokens = [c.reply(prompt(0), seed).tokens for seed in range(50)]
    assert 200 < sum(tokens) / len(tokens) < 400


async def test_pass_rate_through_the_server_is_the_correct_rate(mock_teacher, tmp_path) -> None:
    rate, requests, n = 0.6, 3, 8
    options = dict(replies="realistic", trace_kb=(1, 3), correct_rate=rate, hostile_rate=0.1)
    kinds = ("no_answer", "unterminated_think", "deep_nesting", "megabyte")
    passed = total = 0
    key = tmp_path / "key.jsonl"
    write_key(key, ROWS)
    async with mock_teacher(**options, hostile_kinds=kinds, answer_key=str(key)) as mock:
        async with aiohttp.ClientSession() as session:
            for i, gold in enumerate(GOLDS):
                for r in range(requests):
                    body = {"model": "m", "messages": [{"role": "user", "content": prompt(i)}]}
                    body |= {"n": n, "seed": 1000 * r, "max_tokens": 10**6}
                    async with session.post(f"{mock.url}/chat/completions", json=body) as resp:
                        choices = (await resp.json())["choices"]
                    for choice in choices:
                        passed += verify(choice["message"]["content"], gold, timeout=2).passed
                        total += 1
        stats = mock.stats
    assert total == len(GOLDS) * requests * n
    assert passed == stats["replies_correct"]  # the verifier agrees with every decision
    assert stats["replies_hostile"] > 0 and stats["replies_wrong"] > 0
    sigma = math.sqrt(rate * (1 - rate) / total)
    assert abs(passed / total - rate) < 4 * sigma, (passed / total, sigma)


def test_hostile_replies_never_pass() -> None:
    seen = {}
    c = composer(replies="realistic", correct_rate=0, hostile_rate=1, trace_kb=(1, 2))
    for seed in range(200):
        i = seed % len(ROWS)
        reply = c.reply(prompt(i), seed)
        assert reply.outcome == "hostile"
        kind = _kind(reply.text)
        if kind in seen:
            continue
        seen[kind] = verify(reply.text, GOLDS[i], timeout=1)
        assert not seen[kind].passed, (kind, seen[kind])
    assert set(seen) == {"no_answer", "unterminated_think", "huge_exponent", "deep", "megabyte"}
    assert seen["no_answer"].status == seen["unterminated_think"].status == "no_answer"


def _kind(text: str) -> str:
    if "</think>" not in text:
        return "unterminated_think"
    final = text.split("</think>")[1]
    if len(final) >= 2**20:
        return "megabyte"
    if "(" * 500 in final:
        return "deep"
    if re.search(r"\^\{9|\^\{10|99999999", final):
        return "huge_exponent"
    assert "\\boxed" not in final and not re.search(r"\d", final), final
    return "no_answer"


def test_rating_prompts_get_the_mock_rating_and_unkeyed_prompts_a_number() -> None:
    c = composer(replies="realistic", hostile_rate=0.3)
    problem = "Count the inversions of an array of 10^5 integers."
    rubric = RUBRIC_USER.replace("{problem}", problem)
    reply = c.reply(rubric, 3)
    assert (reply.text, reply.outcome) == (rating_reply(rubric), "rating")
    assert f"{mock_rating(problem)}" in reply.text.splitlines()[-1]
    unkeyed = c.reply("Something nobody keyed.", 3)
    assert unkeyed.outcome == "unkeyed" and re.search(r"\\boxed\{\d+\}\$\.$", unkeyed.text)
