"""The one Verdict type every verifier returns."""

from __future__ import annotations

from typing import Literal

import msgspec

Status = Literal[
    "passed",
    "wrong_answer",
    "no_answer",
    "runtime_error",
    "timeout",
    "memory_limit",
    "compile_error",
    "output_limit",
    "infra_error",
]

#: Statuses that say nothing about the answer: the check itself failed and may be retried.
INFRA_STATUSES: frozenset[str] = frozenset({"infra_error"})


class Verdict(msgspec.Struct):
    """Outcome of checking one answer.

    status: what happened; infrastructure failures are ``infra_error``, never ``wrong_answer``.
    answer: what was extracted from the response (None when nothing could be).
    method: how it was extracted or compared (e.g. ``boxed``, ``last_number``, ``sympy``).
    detail: short human-readable explanation (expected/got excerpt, error line, the test's
        assert message).
    test_index: first failing test, for code (also when it raised before reaching its check).
    exception: for code that raised, the exception's type (``IndexError``, ``std::bad_alloc``).
    traceback: for code that raised, its traceback, without the test harness's own frames.

    Every field is always encoded (no omitted defaults), so every shard has one schema.
    """

    status: Status
    answer: str | None = None
    method: str = ""
    detail: str = ""
    test_index: int | None = None
    exception: str | None = None
    traceback: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"
