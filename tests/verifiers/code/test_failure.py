"""Reading what a failed program printed: the exception's type, line and traceback."""

from __future__ import annotations

import msgspec
import pytest

from sandbox import RunResult
from verifiers.code.failure import Raised, failure, raised_in
from verifiers.verdict import Verdict

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/tmp/bin/main.py", line 2, in <module>\n'
    "    print(d[k])\n"
    "          ~^^^\n"
    "KeyError: 'k'\n"
)


@pytest.mark.parametrize(
    ("stderr", "raised"),
    [
        (TRACEBACK, Raised("KeyError", "KeyError: 'k'", TRACEBACK.strip())),
        (  # the program's own prints first
            "debug: 3\n" + TRACEBACK,
            Raised("KeyError", "KeyError: 'k'", TRACEBACK.strip()),
        ),
        (
            'Traceback (most recent call last):\n  File "m.py", line 1\nKeyboardInterrupt\n',
            Raised(
                "KeyboardInterrupt",
                "KeyboardInterrupt",
                'Traceback (most recent call last):\n  File "m.py", line 1\nKeyboardInterrupt',
            ),
        ),
        (
            "terminate called after throwing an instance of 'std::length_error'\n"
            "  what():  vector::reserve\n",
            Raised(
                "std::length_error",
                "terminate called after throwing an instance of 'std::length_error'\n"
                "  what():  vector::reserve",
            ),
        ),
        ("Segmentation fault\n", None),
        ("some text Traceback (most recent call last): not at a line start", None),
        ("", None),
    ],
)
def test_raised_in(stderr: str, raised: Raised | None) -> None:
    assert raised_in(stderr) == raised


def test_a_chained_traceback_names_the_last_exception_and_keeps_the_chain() -> None:
    chained = (
        TRACEBACK + "\nDuring handling of the above exception, another exception occurred:\n\n"
    )
    chained += TRACEBACK.replace("KeyError: 'k'", "ValueError: bad")
    raised = raised_in(chained)
    assert raised is not None and raised.exception == "ValueError"
    assert raised.traceback is not None and "KeyError: 'k'" in raised.traceback


def test_failure_verdicts() -> None:
    crashed = RunResult(status="runtime_error", exit_code=1, stderr=TRACEBACK, detail="exit code 1")
    assert failure(crashed, 3) == Verdict(
        "runtime_error",
        detail="test 3: KeyError: 'k'",
        test_index=3,
        exception="KeyError",
        traceback=TRACEBACK.strip(),
    )
    exited = RunResult(status="runtime_error", exit_code=2, stderr="usage\n", detail="exit code 2")
    assert failure(exited, None) == Verdict("runtime_error", detail="exit code 2\nusage")
    slow = RunResult(status="timeout", detail="CPU time limit of 1 s exceeded")
    assert failure(slow, 0) == Verdict("timeout", detail="test 0: " + slow.detail, test_index=0)


def test_every_verdict_field_is_always_written() -> None:
    """One schema for every shard: defaults are encoded too, in the positional order."""
    encoded = msgspec.json.decode(msgspec.json.encode(Verdict("passed")))
    assert list(encoded) == [
        "status", "answer", "method", "detail", "test_index", "exception", "traceback",
    ]  # fmt: skip
    assert encoded["exception"] is None and encoded["traceback"] is None
    assert Verdict("runtime_error", "x", "m", "d", 2, "E", "tb").traceback == "tb"
