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
    detail: short human-readable explanation (expected/got excerpt, error line).
    test_index: first failing test, for code.
    """

    status: Status
    answer: str | None = None
    method: str = ""
    detail: str = ""
    test_index: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"
