"""One math check, start to finish, in this process: is a response's final answer the gold's?

``grade`` runs extraction, normalisation, the exact and numeric fast paths and sympy, with no
time limit: callers with untrusted input run it in a worker process under a hard budget
(``verifiers.math.verify`` and ``MathVerifierPool`` do). Benchmarks call it directly to measure
the cost of a check on one core.

Verdict.method is ``<extraction>/<comparison>``: extraction is boxed, answer_phrase, latex,
bare or last_number; comparison is string, exact, numeric or sympy (the strongest one used).
"""

from __future__ import annotations

import functools

from verifiers.math.compare import match_answers
from verifiers.math.exact import canonical
from verifiers.math.extract import (
    Extraction,
    UnfinishedThinking,
    extract_answer,
    final_text,
    gold_answer,
)
from verifiers.math.parse import ParseError, parse_answer
from verifiers.verdict import Verdict

__all__ = ["clear_caches", "grade"]

# The n samples of a question share its gold and mostly agree on an answer: each distinct
# (answer, gold) pair is compared once.
_gold_answer = functools.lru_cache(maxsize=4096)(gold_answer)


@functools.lru_cache(maxsize=65536)
def _match(answer: str, expected: str) -> tuple[bool | None, str, str]:
    """(result, detail, comparison method): fast paths first, sympy for what they leave."""
    from verifiers.math.symbolic import SympyJudge  # sympy loads where checks run, only there

    judge = SympyJudge()
    result, detail = match_answers(answer, expected, judge)
    return result, detail, judge.method


def clear_caches() -> None:
    """Forget every memoized parse and comparison of this process."""
    for cached in (_gold_answer, _gold_items, _match, parse_answer, canonical):
        cached.cache_clear()


@functools.lru_cache(maxsize=4096)
def _gold_items(expected: str) -> tuple[int, str]:
    """How many items the gold lists or holds ("3, -4" and "(2, 9)" have two), and how to
    join answer pieces into one like it (a union's pieces with "or")."""
    try:
        tree = parse_answer(expected)
    except ParseError:
        return 1, ""
    if tree[0] == "tuple":
        return len(tree[3]), ", "
    if tree[0] in ("list", "union"):
        return len(tree[1]), " or " if tree[0] == "union" else ", "
    return 1, ""


def _joined_parts(extraction: Extraction, expected: str) -> str | None:
    """The last k answer pieces joined, when the gold has k items and the extracted answer
    does not match: part (a) and part (b) boxed separately, "$a = 4$ and $b = 1$"."""
    wanted, separator = _gold_items(expected)
    if wanted < 2 or len(extraction.parts) < wanted:
        return None
    joined = separator.join(extraction.parts[-wanted:])
    return joined if joined != extraction.answer else None


def grade(response: str, gold: str) -> Verdict:
    """Check a response (a whole trace or a bare answer) against a gold answer or solution.

    Raises ValueError when the gold holds no answer.
    """
    expected = _gold_answer(gold)
    if not expected:
        raise ValueError("gold answer is empty")
    try:
        extraction = extract_answer(final_text(response))
    except UnfinishedThinking as error:
        return Verdict(status="no_answer", detail=str(error))
    if extraction is None:
        return Verdict(status="no_answer", detail="no answer found in the response")
    answer = extraction.answer
    result, detail, method = _match(answer, expected)
    if not result and (joined := _joined_parts(extraction, expected)) is not None:
        joined_result, _, joined_method = _match(joined, expected)
        if joined_result:
            answer, result, method = joined, joined_result, joined_method
    method = f"{extraction.method}/{method}"
    if result:
        return Verdict(status="passed", answer=answer, method=method)
    reason = detail or "equivalence not proved"
    return Verdict(
        status="wrong_answer",
        answer=extraction.answer,
        method=method,
        detail=f"{reason}; expected {expected}",
    )
