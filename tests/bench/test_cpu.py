"""bench/common/cpu.py counts grandchildren nobody waits for, and skips excluded trees."""

from __future__ import annotations

import subprocess
import sys

from bench.common.cpu import TreeCPU

BURN = "import time\nwhile time.process_time() < 0.5: pass\n"  # 0.5 s of CPU on any machine
# A child that runs the burner as a grandchild, the way the math pool's template forks workers.
NESTED = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BURN!r}])"


def test_grandchild_cpu_is_counted() -> None:
    with TreeCPU(interval=0.02) as cpu:
        subprocess.run([sys.executable, "-c", NESTED], check=True)
    assert 0.4 <= cpu.seconds < 5


def test_excluded_subtree_is_not_counted() -> None:
    other = subprocess.Popen([sys.executable, "-c", NESTED])
    try:
        with TreeCPU(exclude={other.pid}, interval=0.02) as cpu:
            other.wait()
    finally:
        other.kill()
    assert cpu.seconds < 0.3
