"""What the mock teacher says: one reply per (prompt, seed), deterministic in both.

A keyed reply's first draw decides it: below ``correct_rate`` it is correct, below
``correct_rate + hostile_rate`` hostile, else wrong; so over many prompts or seeds the share
of correct replies is ``correct_rate`` exactly in expectation. What correct means by question:
- math (a row with ``answer``): the gold (plain) or an equivalent rewrite of it (realistic);
  wrong is a near miss (engine.testing.math_answers);
- multiple choice (a row with ``choices`` whose ``answer`` is among the prompt's lettered
  options): the letter of that option; wrong is another letter;
- code (a row with ``solution``): the reference program in a fenced block; wrong is a broken
  program (engine.testing.programs).
Hostile replies never pass: no answer, an unterminated ``<think>``, a huge exponent, deep
nesting, or a mebibyte of text. Unkeyed prompts get a random integer; rating prompts (the
difficulty rubric) get ``mock_rating(problem)``.
"""

from __future__ import annotations

import functools
import hashlib
import random
from typing import Literal

import msgspec

from engine.testing.answer_key import AnswerKey, KeyRow, options_in, same_text
from engine.testing.math_answers import near_miss, rewrite
from engine.testing.options import HostileKind, MockOptions
from engine.testing.programs import broken_program, language_name
from engine.testing.rating import is_rating_prompt, rating_reply
from engine.testing.tokens import count_tokens
from engine.testing.traces import filler, megabyte, trace

Outcome = Literal["correct", "wrong", "hostile", "unkeyed", "rating"]


class Reply(msgspec.Struct, frozen=True):
    text: str
    tokens: int  # engine.testing.tokens' count of text
    outcome: Outcome


# Final answers as models write them; every one is read by the project's verifiers (tested).
# The unboxed phrase comes last: today's verifier misreads an escaped dollar inside inline
# math ("the answer is $\\$18.90$"), so answers with one only get the boxed forms.
_MATH_FINALS = (
    "The final answer is $\\boxed{{{}}}$.",
    "**Final Answer**\n\\[\n\\boxed{{{}}}\n\\]",
    "So the answer is $\\boxed{{{}}}$.",
    "Therefore, the answer is ${}$.",
)
_LETTER_FINALS = (
    "The answer is ({}).",
    "$\\boxed{{{}}}$",
    "**Answer: {}**",
    "The correct option is **{}**.",
)
_SUMMARY = "Putting the pieces together and checking the result once more:"
_PLAIN_FINAL = "The final answer is $\\boxed{{{}}}$."


class _Task(msgspec.Struct, frozen=True):
    """What a keyed prompt asks: the gold in the form its answer takes."""

    kind: Literal["math", "choice", "code"]
    gold: str
    others: tuple[str, ...] = ()  # choice: the wrong letters
    language: str = "python"


def _task(row: KeyRow, prompt: str) -> _Task | None:
    if row.solution is not None:
        return _Task("code", row.solution, language=language_name(row.language))
    if row.choices and row.answer is not None:
        options = options_in(prompt)
        letters = [k for k, text in options.items() if same_text(text, row.answer)]
        if len(letters) != 1:
            return None
        return _Task("choice", letters[0], tuple(k for k in options if k != letters[0]))
    if row.answer is not None:
        return _Task("math", row.answer)
    return None


class Composer:
    """Replies for one mock: its options and answer key."""

    def __init__(self, options: MockOptions, key: AnswerKey):
        self.options = options
        self.key = key

    def reply(self, prompt: str, seed: int | float) -> Reply:
        return self.replies(prompt, [seed])[0]

    def replies(self, prompt: str, seeds: list[int | float]) -> list[Reply]:
        """One reply per seed (the n choices of one request share the prompt's key lookup)."""
        if is_rating_prompt(prompt):
            text = rating_reply(prompt)
            return [Reply(text, count_tokens(text), "rating")] * len(seeds)
        row = self.key.find(prompt)
        task = _task(row, prompt) if row is not None else None
        return [self._reply(prompt, task, seed) for seed in seeds]

    def _reply(self, prompt: str, task: _Task | None, seed: int | float) -> Reply:
        digest = hashlib.blake2b(f"{seed}:{prompt}".encode(), digest_size=8).digest()
        rng = random.Random(int.from_bytes(digest, "little"))
        draw = rng.random()
        options = self.options
        outcome: Outcome
        if task is None:
            outcome = "unkeyed"
        elif draw < options.correct_rate:
            outcome = "correct"
        elif draw < options.correct_rate + options.hostile_rate:
            outcome = "hostile"
        else:
            outcome = "wrong"
        domain = "code" if task is not None and task.kind == "code" else "math"
        if options.replies == "realistic":
            low, high = options.trace_kb
            thoughts, tokens = trace(rng, int(1024 * rng.uniform(low, high)), domain)
        else:
            thoughts, tokens = filler(rng, options.completion_tokens)
        if outcome == "hostile":
            assert task is not None
            kind = options.hostile_kinds[int(rng.random() * len(options.hostile_kinds))]
            if kind == "unterminated_think":
                return Reply(f"<think>\n{thoughts}", _OPEN_TOKENS + tokens, outcome)
            final, final_tokens = self._hostile(task, kind, rng)
        else:
            final = self._final(task, outcome == "correct", rng)
            final_tokens = _count_short(final)
        text = f"<think>\n{thoughts}\n</think>\n\n{final}"
        return Reply(text, _THINK_TOKENS + tokens + final_tokens, outcome)

    def _final(self, task: _Task | None, correct: bool, rng: random.Random) -> str:
        """The text after the reasoning: an answer, right or wrong."""
        realistic = self.options.replies == "realistic"
        choice = rng.random()
        if task is None:
            return _PLAIN_FINAL.format(rng.randint(0, 999))
        if task.kind == "code":
            program = task.gold if correct else broken_program(task.gold, task.language, choice)
            return f"Here is the complete program.\n\n```{task.language}\n{program.rstrip()}\n```"
        if task.kind == "choice":
            letter = task.gold if correct else _pick(task.others, choice)
            return (_pick(_LETTER_FINALS, rng.random()) if realistic else _PLAIN_FINAL).format(
                letter
            )
        if not realistic:
            return _PLAIN_FINAL.format(task.gold if correct else near_miss(task.gold, choice))
        answer = rewrite(task.gold, choice) if correct else near_miss(task.gold, choice)
        forms = _MATH_FINALS[:-1] if "\\$" in answer else _MATH_FINALS
        return f"{_SUMMARY}\n\n{_pick(forms, rng.random()).format(answer)}"

    def _hostile(self, task: _Task, kind: HostileKind, rng: random.Random) -> tuple[str, int]:
        """A final text that must never pass, and its token count."""
        if kind == "no_answer":
            text = "This is taking too long to settle, so I stop here without a final result."
        elif kind == "megabyte":
            ramble, tokens = megabyte()
            wrong = self._final(task, False, rng)
            return f"{ramble}\n{wrong}", tokens + count_tokens(wrong)
        elif task.kind == "code":
            body = "10**10**10**10" if kind == "huge_exponent" else "(" * 5000 + "1" + ")" * 5000
            text = f"```python\nprint({body})\n```"
        else:
            if kind == "huge_exponent":
                answer = _pick(_HUGE, rng.random())
            else:
                wrong = (
                    near_miss(task.gold, rng.random()) if task.kind == "math" else task.others[0]
                )
                depth = 500 + int(rng.random() * 1500)
                answer = "(" * depth + wrong + ")" * depth
            text = _PLAIN_FINAL.format(answer)
        return text, count_tokens(text)


_HUGE = ("10^{10^{10^{10}}}", "x^{99999999}", "9^{9^{9^{9}}}", "(10^{10^{6}})!")
_OPEN_TOKENS = count_tokens("<think>")
_count_short = functools.lru_cache(maxsize=2**16)(count_tokens)  # finals repeat across samples
_THINK_TOKENS = count_tokens("<think></think>")


def _pick(items: tuple[str, ...], choice: float) -> str:
    return items[int(choice * len(items))]
