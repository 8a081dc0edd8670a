"""Sandbox pieces that need no runner: limits, languages, frames, result classification."""

from __future__ import annotations

import os
import signal

import pytest

from sandbox import Limits, get_language, runner, zygote
from sandbox.runner import classify, decode_frame, encode_frame

LIMITS = {"cpu_s": 1.0, "wall_s": 2.0, "memory_bytes": 64 << 20, "output_bytes": 100}


def finished(
    *, code: int | None = None, signal_number: int | None = None, cpu: float = 0.1, compiled=True
):
    status = code << 8 if code is not None else signal_number
    return {"status": status, "compiled": compiled, "cpu_s": cpu, "wall_s": cpu, "memory_kb": 1000}


def test_bad_limits_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"Limits\.time_s must be positive"):
        Limits(time_s=0)
    with pytest.raises(ValueError, match=r"Limits\.wall_s must be positive"):
        Limits(wall_s=-1)
    assert Limits(time_s=2).wall == 5 and Limits(time_s=2, wall_s=3).wall == 3


def test_languages_by_alias_and_unknown_names() -> None:
    assert get_language("C++").name == "cpp" and get_language("py3").name == "python"
    with pytest.raises(ValueError, match=r"unknown language 'cobol'; known: .*python"):
        get_language("cobol")


def test_frames_round_trip_binary_blobs() -> None:
    blobs = [b"", bytes(range(256)), "é".encode() * 3]
    frame = encode_frame({"op": "run", "n": 1}, blobs)
    head_size = int.from_bytes(frame[:4], "big")
    header, decoded = decode_frame(frame[8 : 8 + head_size], frame[8 + head_size :])
    assert header == {"op": "run", "n": 1} and decoded == blobs


@pytest.mark.parametrize(
    ("run", "broke", "stdout_size", "stderr", "status"),
    [
        (finished(code=0), None, 10, b"", "ok"),
        (finished(code=1, compiled=False), None, 0, b"SyntaxError", "compile_error"),
        (finished(code=0), "wall", 10, b"", "timeout"),  # killed at the wall limit
        (finished(signal_number=9, compiled=False), "wall", 0, b"", "timeout"),  # mid-compile
        (finished(code=0, cpu=0.1), "cpu", 10, b"", "timeout"),  # by the runner's CPU watch
        (finished(code=0, cpu=1.5), None, 10, b"", "timeout"),  # over CPU, even if it exited
        (finished(signal_number=signal.SIGXCPU, cpu=1.0), None, 0, b"", "timeout"),
        (finished(code=0), None, 101, b"", "output_limit"),  # exit 0 but too much output
        (finished(signal_number=signal.SIGXFSZ), None, 0, b"", "output_limit"),
        (finished(code=1), None, 0, b"MemoryError\n", "memory_limit"),
        (finished(signal_number=signal.SIGABRT), None, 0, b"std::bad_alloc", "memory_limit"),
        (finished(signal_number=signal.SIGKILL), None, 0, b"", "memory_limit"),  # OOM killer
        (finished(signal_number=signal.SIGSEGV), None, 0, b"", "runtime_error"),
        (finished(code=3), None, 0, b"ValueError", "runtime_error"),
    ],
)
def test_classification_order(run, broke, stdout_size, stderr, status) -> None:
    assert classify(run, LIMITS, broke, stdout_size, stderr)[0] == status


def test_runtime_error_detail_names_the_signal() -> None:
    _, detail = classify(finished(signal_number=signal.SIGSEGV), LIMITS, None, 0, b"")
    assert detail == "killed by SIGSEGV"
    assert os.WIFSIGNALED(finished(signal_number=signal.SIGSEGV)["status"])


def test_runner_and_zygote_agree_on_the_setup_failure_status() -> None:
    assert runner.SETUP_FAILED == zygote.SETUP_FAILED
