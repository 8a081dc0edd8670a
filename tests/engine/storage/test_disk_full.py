"""A full disk stops the job with exit code 4; after space is freed the same command finishes the
job with every record exactly once (nothing written before the failure is lost)."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from tests.helpers import (
    assert_exactly_once,
    mock_process,
    read_samples,
    recipe_toml,
    run_cli,
    write_questions,
)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_exits_4_and_resume_completes(tmp_path, small_disk):
    questions = write_questions(tmp_path / "q.jsonl", 150)
    out = small_disk / "out"
    with mock_process("--completion-tokens", "3000", "--answer-key", str(questions)) as url:
        config = tmp_path / "full.toml"
        config.write_text(recipe_toml(url, questions, out))
        full = run_cli("run", "--config", str(config), "--quiet")
        assert full.returncode == 4, full.stderr
        assert "No space left on device" in full.stderr
        written_before = len(read_samples(out))
        assert written_before > 0
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        resumed = run_cli("run", "--config", str(config), "--quiet")
        assert resumed.returncode == 0, resumed.stderr
    assert_exactly_once(read_samples(out), 150, 4)
