"""The top-N barrier across partitions: curation per partition, the selection computed once
when every partition's curation is complete, the same questions as one process, a waiting
partition says what it waits for, and a restart (after a kill mid-curation, or after the end)
recomputes nothing that is persisted."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from engine.records import Question
from engine.storage.reader import read_stream
from engine.storage.selection import load_selection
from tests.engine.distributed.helpers import (
    finished,
    partition_recipe,
    sample_keys,
    sbatch_task,
    worker_records,
)
from tests.helpers import kill_when, mock_process, read_samples, run_cli, write_questions

pytestmark = pytest.mark.slow

QUESTIONS, TOP = 60, 25


def curation(url: str) -> dict[str, str]:
    scorer = (
        f'model = "mock"\nbase_url = "{url}"\nmethods = {{ math = "length" }}\n'
        "answer_max_tokens = 512\nmax_in_flight = 4\nbackoff_base_s = 0.02"
    )
    return {
        "scorer": scorer,
        "select": f"top = {{ math = {TOP} }}",
        "sampling": "n = 2\nmax_tokens = 256",
    }


def selection_of(out: Path) -> tuple[Path, list[str]]:
    [path] = out.glob("t_selection-*.jsonl.zst")
    return path, [q.id for q in load_selection(path)]


def mock_requests(url: str) -> int:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/mock/stats") as reply:
        return json.load(reply)["requests"]


def test_partitions_select_the_same_top_n_as_one_process_once(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    with mock_process("--latency-ms", "20", "--answer-key", str(questions)) as url:
        single, parts = tmp_path / "single", tmp_path / "parts"
        config = partition_recipe(tmp_path, url, questions, single, **curation(url))
        assert run_cli("run", "--config", str(config), "--quiet").returncode == 0
        config = partition_recipe(tmp_path, url, questions, parts, **curation(url))

        first = sbatch_task(config, 0, 3)
        try:
            [barrier] = _wait_for(lambda: list(parts.glob("t_barrier-*/curated-0")), first)
            status = run_cli("status", str(parts))
            assert "waiting for the curation of partition(s) 1, 2" in status.stdout, status.stdout
            assert first.poll() is None  # it waits for the others' curation
            scored = lambda: worker_records(parts, 2, "t_scored") >= 3  # noqa: E731  mid-curation
            kill_when(lambda: sbatch_task(config, 2, 3), scored)
            others = [sbatch_task(config, i, 3) for i in (1, 2)]
            for task in [first, *others]:
                finished(task)
        finally:
            first.kill()  # a failed check must not leave it waiting at the barrier
        assert "passed" in run_cli("status", str(parts)).stdout

        path, chosen = selection_of(parts)
        assert chosen == selection_of(single)[1] and len(chosen) == TOP
        scored_ids = Counter(q.id for q in read_stream(parts, "t_scored", Question))
        assert set(scored_ids) == {f"s:q{i}" for i in range(QUESTIONS)}
        assert max(scored_ids.values()) == 1  # the killed partition scored nothing twice
        assert sample_keys(parts) == sample_keys(single)
        samples = read_samples(parts, "t")
        assert {s.question_id for s in samples} == set(chosen) and len(samples) == 2 * TOP

        before = path.stat().st_mtime_ns, path.stat().st_ino, sorted(parts.iterdir())
        requests = mock_requests(url)
        for i in range(3):
            again = run_cli("run", "--config", str(config), "--quiet", "--partition", f"{i}/3")
            assert again.returncode == 0 and "0 samples written this run" in again.stdout
        assert mock_requests(url) == requests  # nothing scored or sampled again
        assert (path.stat().st_mtime_ns, path.stat().st_ino, sorted(parts.iterdir())) == before
        assert barrier.exists()


def _wait_for(found, process, timeout: float = 120):
    """What ``found()`` returns once it is something, while ``process`` runs."""
    deadline = time.monotonic() + timeout
    while not (result := found()):
        assert process.poll() is None, process.communicate()[1].decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return result
