"""The output lock: one writer per output (per partition), refusals naming the holder, a dead
holder's lock taken over, and the rule that keeps a whole-job run apart from partitions."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from engine.storage.lock import OutputLock, OutputLocked, read_holder
from tests.helpers import REPO

HOLD = """
import sys, time
from pathlib import Path
from engine.storage.lock import OutputLock
with OutputLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    with OutputLock(tmp_path):
        holder = read_holder(tmp_path / "lock")
        assert holder.pid == os.getpid() and holder.host == socket.gethostname()
        with pytest.raises(OutputLocked) as refused:
            OutputLock(tmp_path).__enter__()
        message = str(refused.value)
        assert "\n" not in message
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in message
    assert (tmp_path / "lock").read_bytes() == b""  # released cleanly: no holder named
    with OutputLock(tmp_path):  # and free again
        pass


def test_partitions_run_side_by_side_but_never_beside_the_whole_job(tmp_path):
    with OutputLock(tmp_path, partition=0), OutputLock(tmp_path, partition=1):
        with pytest.raises(OutputLocked, match="partition 0"):
            OutputLock(tmp_path, partition=0).__enter__()
        with pytest.raises(OutputLocked, match=r"pid \d+ on host .* \(partition [01]\)"):
            OutputLock(tmp_path).__enter__()
    with OutputLock(tmp_path), pytest.raises(OutputLocked, match=f"pid {os.getpid()} "):
        OutputLock(tmp_path, partition=3).__enter__()
    with OutputLock(tmp_path, partition=3):  # every lock was released with its holder
        pass


def test_the_lock_of_a_killed_holder_is_taken_over(tmp_path, caplog):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(OutputLocked, match=f"pid {holder.pid} on host"):
            OutputLock(tmp_path).__enter__()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with caplog.at_level(logging.WARNING), OutputLock(tmp_path):
        assert read_holder(tmp_path / "lock").pid == os.getpid()
    assert f"pid {holder.pid}" in caplog.text and "without releasing" in caplog.text
