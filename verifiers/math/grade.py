"""Math answer verification: is the final answer of a response equivalent to the gold?

Fast paths run in the caller (extraction, normalisation, exact canonical forms, numeric
refutation); only what they leave open goes to a sympy worker process with a hard timeout.
``verify`` is synchronous and thread-safe; ``MathVerifierPool`` is the asyncio form.

Verdict.method is ``<extraction>/<comparison>``: extraction is boxed, answer_phrase, latex,
bare or last_number; comparison is string, exact, numeric or sympy (the strongest one used).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import msgspec

from verifiers.math.compare import Judge, match_answers
from verifiers.math.exact import canonical
from verifiers.math.extract import UnfinishedThinking, extract_answer, final_text, gold_answer
from verifiers.math.parse import parse_answer
from verifiers.math.worker import Check, Reply, WorkerFailed, WorkerPool, WorkerTimeout
from verifiers.verdict import Verdict

__all__ = ["MathVerifierPool", "clear_caches", "verify"]

_YIELD_EVERY = 64


class _Open(msgspec.Struct, frozen=True):
    """A check the fast paths could not settle: it needs sympy."""

    answer: str
    gold: str
    extraction: str


# The n samples of a question share its gold and mostly agree on an answer: each distinct
# (answer, gold) pair is compared once.
_gold_answer = functools.lru_cache(maxsize=4096)(gold_answer)


@functools.lru_cache(maxsize=65536)
def _match(answer: str, expected: str) -> tuple[bool | None, str, str]:
    """(result, detail, comparison method) of the fast comparison paths."""
    judge = Judge()
    result, detail = match_answers(answer, expected, judge)
    return result, detail, judge.method


def clear_caches() -> None:
    """Forget every memoized parse and comparison (benchmarks start cold with this)."""
    for cached in (_gold_answer, _match, parse_answer, canonical):
        cached.cache_clear()


def _check_fast(response: str, gold: str) -> Verdict | _Open:
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
    if result is None:
        return _Open(extraction.answer, expected, extraction.method)
    return _verdict(result, extraction.answer, f"{extraction.method}/{method}", detail, expected)


def _verdict(result: bool | None, answer: str, method: str, detail: str, expected: str) -> Verdict:
    if result:
        return Verdict(status="passed", answer=answer, method=method)
    reason = detail or "equivalence not proved"
    return Verdict(
        status="wrong_answer", answer=answer, method=method, detail=f"{reason}; expected {expected}"
    )


def _run_in_worker(pool: WorkerPool, check: _Open, timeout: float) -> Verdict:
    try:
        reply: Reply = pool.run(Check(check.answer, check.gold), timeout)
    except WorkerTimeout:
        return Verdict(
            status="timeout",
            answer=check.answer,
            method=f"{check.extraction}/sympy",
            detail=f"sympy took longer than {timeout:g}s; worker killed",
        )
    except WorkerFailed as error:
        return Verdict(status="infra_error", answer=check.answer, detail=str(error))
    if reply.error == "memory_limit":
        return Verdict(status="memory_limit", answer=check.answer, detail="sympy ran out of memory")
    if reply.error:
        return Verdict(status="infra_error", answer=check.answer, detail=reply.error)
    method = f"{check.extraction}/{reply.method}"
    return _verdict(reply.result, check.answer, method, reply.detail, check.gold)


_shared_pool: WorkerPool | None = None
_shared_lock = threading.Lock()


def _default_pool() -> WorkerPool:
    global _shared_pool
    with _shared_lock:
        if _shared_pool is None:
            _shared_pool = WorkerPool(os.cpu_count() or 1)
            atexit.register(_shared_pool.close)
        return _shared_pool


def verify(response: str, gold: str, *, timeout: float = 5.0) -> Verdict:
    """Check a response (a whole trace or a bare answer) against a gold answer or solution.

    Raises ValueError when the gold holds no answer. Thread-safe; sympy work runs in a shared
    pool of worker processes (one per core, started on first need) under ``timeout`` seconds.
    """
    checked = _check_fast(response, gold)
    if isinstance(checked, Verdict):
        return checked
    return _run_in_worker(_default_pool(), checked, timeout)


class MathVerifierPool:
    """Asyncio verification over ``workers`` sympy processes (default: one per core).

    ``async with MathVerifierPool() as pool: verdict = await pool.verify(response, gold)``
    """

    def __init__(self, workers: int | None = None, timeout: float = 5.0):
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.workers = workers if workers is not None else os.cpu_count() or 1
        self.timeout = timeout
        self._pool = WorkerPool(self.workers)
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="math-verify")

    async def __aenter__(self) -> MathVerifierPool:
        return self  # workers start on the first check that needs sympy: most never do

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._pool.close)
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def verify(self, response: str, gold: str) -> Verdict:
        checked = _check_fast(response, gold)
        if isinstance(checked, Verdict):
            return checked
        return await self._in_worker(checked)

    async def verify_many(self, pairs: Iterable[tuple[str, str]]) -> list[Verdict]:
        """Verdicts for (response, gold) pairs, in order; sympy work runs in parallel."""
        checked: list[Verdict | _Open] = []
        for index, (response, gold) in enumerate(pairs):
            checked.append(_check_fast(response, gold))
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                await asyncio.sleep(0)  # let other tasks run during long batches
        open_checks = [c for c in checked if isinstance(c, _Open)]
        settled = iter(await asyncio.gather(*map(self._in_worker, open_checks)))
        return [c if isinstance(c, Verdict) else next(settled) for c in checked]

    async def _in_worker(self, check: _Open) -> Verdict:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads, _run_in_worker, self._pool, check, self.timeout
        )
