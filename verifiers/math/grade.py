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
from verifiers.math.extract import UnfinishedThinking, extract_answer, final_text, gold_answer
from verifiers.math.parse import parse_answer
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
    for cached in (_gold_answer, _match, parse_answer, canonical):
        cached.cache_clear()


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
    result, detail, method = _match(extraction.answer, expected)
    method = f"{extraction.method}/{method}"
    if result:
        return Verdict(status="passed", answer=extraction.answer, method=method)
    reason = detail or "equivalence not proved"
    return Verdict(
        status="wrong_answer",
        answer=extraction.answer,
        method=method,
        detail=f"{reason}; expected {expected}",
    )
