"""Verdicts for runs that went wrong, with what a user needs to act: which test, the exception's
type in a field of its own, and the program's traceback."""

from __future__ import annotations

import re

import msgspec

from sandbox import RunResult
from verifiers.verdict import Verdict

STDERR_EXCERPT = 300
TRACEBACK_CHARS = 4000
_PYTHON_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(?=:|$)")
_CPP_THROW = re.compile(r"terminate called after throwing an instance of '([^']+)'")


class Raised(msgspec.Struct, frozen=True):
    """An exception a program died of: its type, its line (``IndexError: ...``), and its
    traceback (None for C++, which prints none)."""

    exception: str
    message: str
    traceback: str | None = None


def raised_in(stderr: str) -> Raised | None:
    """The exception in a program's stderr: Python's last traceback (the sandbox leaves out
    its own frames) or C++'s ``terminate called after throwing``."""
    start = stderr.find(_PYTHON_TRACEBACK)
    if start >= 0 and (start == 0 or stderr[start - 1] == "\n"):
        text = stderr[start:].strip()
        last = text.rfind(_PYTHON_TRACEBACK)
        for line in text[last:].splitlines()[1:]:
            if line and not line[0].isspace():
                if (name := _EXCEPTION_LINE.match(line)) is not None:
                    return Raised(name.group(), line[:STDERR_EXCERPT], _shorten(text))
                break
    if (thrown := _CPP_THROW.search(stderr)) is not None:
        return Raised(thrown.group(1), excerpt(stderr[thrown.start() :]))
    return None


def failure(result: RunResult, index: int | None, raised: Raised | None = None) -> Verdict:
    """Verdict for a run that did not finish normally (or a compilation that failed);
    ``raised`` when the harness already knows the exception, else it is read from stderr."""
    if raised is None and result.status in ("runtime_error", "memory_limit"):
        raised = raised_in(result.stderr)
    where = f"test {index}: " if index is not None else ""
    if result.status == "runtime_error" and raised is not None and raised.traceback is not None:
        detail = where + raised.message
    else:
        detail = where + (result.detail or result.status)
        if result.stderr.strip():
            detail += "\n" + excerpt(result.stderr, head=result.status == "compile_error")
    return Verdict(
        result.status,
        detail=detail,
        test_index=index,
        exception=raised.exception if raised else None,
        traceback=raised.traceback if raised else None,
    )


def excerpt(stderr: str, head: bool = False) -> str:
    """Compilers say the first error first; tracebacks end with theirs."""
    text = stderr.strip()
    if len(text) <= STDERR_EXCERPT:
        return text
    return text[:STDERR_EXCERPT] + "..." if head else "..." + text[-STDERR_EXCERPT:]


def _shorten(traceback: str) -> str:
    if len(traceback) <= TRACEBACK_CHARS:
        return traceback
    return traceback[:200] + "\n  ...\n" + traceback[-(TRACEBACK_CHARS - 200) :]
