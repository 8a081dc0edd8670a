"""Partitions as plain processes (the Slurm array script and the Kubernetes indexed Job run
as they would on a cluster): one output, the same samples as one process, exactly once with a
partition killed mid-run, read as one output by status, cat, export, view and eval; the N of
an output and the partition locks; exact duplicates meet in one partition."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from engine.dashboard.data import OutputView
from engine.distributed.partition import Partition, partition_of
from engine.eval.results import _job_manifest
from engine.eval.results import read_samples as eval_samples
from engine.records import Excluded, Question
from engine.storage import shards
from engine.storage.lock import OutputLock
from engine.storage.reader import read_stream
from tests.engine.distributed.helpers import (
    finished,
    indexed_job_pod,
    partition_recipe,
    sample_keys,
    sbatch_task,
    worker_records,
    write_rows,
)
from tests.helpers import (
    assert_exactly_once,
    kill_when,
    mock_process,
    read_samples,
    run_cli,
    write_questions,
)

QUESTIONS = 150
DUPLICATES = 30  # rows after the originals: the same problems, other ids, respaced and recased


def questions_with_duplicates(path: Path) -> Path:
    rows = [
        {"id": f"q{i}", "problem": f"Compute {i} + {i + 1}.", "answer": str(2 * i + 1)}
        for i in range(QUESTIONS)
    ]
    rows += [
        {"id": f"d{i}", "problem": f"COMPUTE {i}+{i + 1}.", "answer": str(2 * i + 1)}
        for i in range(DUPLICATES)
    ]
    return write_rows(path, rows)


def test_partitions_are_disjoint_cover_the_stream_and_keep_exact_duplicates_together():
    problems = [f"Compute {i} + {i + 1}." for i in range(2000)]
    for count in (1, 2, 3, 8):
        owners = [partition_of(p, count) for p in problems]
        assert set(owners) == set(range(count))
        for problem, owner in zip(problems, owners, strict=True):
            owned = [
                i
                for i in range(count)
                if Partition(i, count).owns(Question("x", "math", "s", problem))
            ]
            assert owned == [owner]
            assert partition_of(problem.upper().replace(" ", "  "), count) == owner
    shares = Counter(partition_of(p, 4) for p in problems)
    assert min(shares.values()) > 400  # about a quarter each


@pytest.mark.parametrize("text", ["4/4", "1", "-1/2", "a/b", "0/0"])
def test_a_bad_partition_is_a_usage_error_naming_it(text):
    result = run_cli("run", "--config", "nope.toml", "--partition", text)
    assert result.returncode == 2 and "--partition" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def exclusions(out: Path) -> list[tuple[str, str]]:
    return sorted((e.question_id, e.stage) for e in read_stream(out, "t_excluded", Excluded))


def exported(tmp_path: Path, out: Path) -> list[str]:
    """The exported rows, sorted, without ``completion_tokens``: the mock reports a request's
    usage split over its choices, and a resumed question asks for its missing samples in a
    smaller request."""
    dest = tmp_path / f"export-{out.name}"
    result = run_cli("export", str(out), str(dest), "--files", "jsonl", "--answer-filter", "none")
    assert result.returncode == 0, result.stderr
    rows = [
        json.loads(line)
        for path in sorted((dest / "data").iterdir())
        for line in path.read_text().splitlines()
    ]
    return sorted(json.dumps(row | {"completion_tokens": None}) for row in rows)


@pytest.mark.slow
def test_slurm_array_tasks_write_one_output_equal_to_one_process_with_a_task_killed(tmp_path):
    questions = questions_with_duplicates(tmp_path / "q.jsonl")
    with mock_process("--latency-ms", "30", "--answer-key", str(questions)) as url:
        single, parts = tmp_path / "single", tmp_path / "parts"
        dedup = "exact = true"
        finished_single = run_cli(
            "run", "--config", str(partition_recipe(tmp_path, url, questions, single, dedup=dedup)),
            "--quiet",
        )  # fmt: skip
        assert finished_single.returncode == 0, finished_single.stderr
        config = partition_recipe(tmp_path, url, questions, parts, dedup=dedup)
        others = [sbatch_task(config, i, 3) for i in (0, 2)]
        kill_when(lambda: sbatch_task(config, 1, 3), lambda: worker_records(parts, 1) >= 24)
        for task in others:
            finished(task)
        resumed = finished(sbatch_task(config, 1, 3))
        assert "took over the output lock" in resumed  # the killed task's stale lock
    samples = read_samples(parts, "t")
    assert_exactly_once(samples, QUESTIONS, 4)
    assert sample_keys(parts) == sample_keys(single)
    assert exclusions(parts) == exclusions(single)
    assert len(exclusions(parts)) == DUPLICATES
    by_worker: dict[int, set[str]] = {}
    for path in shards.list_shards(parts, "t"):
        worker = shards.parse_name(path.name)[1]
        by_worker.setdefault(worker, set()).update(key[0] for key in shards.read_index(path).keys)
    problems = {f"s:q{i}": f"Compute {i} + {i + 1}." for i in range(QUESTIONS)}
    for worker, ids in by_worker.items():
        assert all(partition_of(problems[i], 3) == worker for i in ids)
    assert sorted(by_worker) == [0, 1, 2]

    manifest = json.loads((parts / "manifest.json").read_text())
    assert manifest["partitions"] == 3 and manifest["state"] == "finished"
    assert manifest["records"] == QUESTIONS * 4
    assert (
        sum(json.loads((parts / f"manifest-{i}.json").read_text())["records"] for i in range(3))
        == 600
    )

    status = run_cli("status", str(parts))
    assert (
        status.returncode == 0
        and f"t: {QUESTIONS * 4} records, {QUESTIONS} questions" in status.stdout
    )
    assert "partition 1/3: finished" in status.stdout
    cat = run_cli("cat", str(parts), "--name", "t")
    assert Counter(json.loads(line)["question_id"] for line in cat.stdout.splitlines()) == Counter(
        {f"s:q{i}": 4 for i in range(QUESTIONS)}
    )
    assert exported(tmp_path, parts) == exported(tmp_path, single)
    summary = OutputView(parts).summary()
    assert summary["state"] == "finished"
    assert sum(summary["streams"]["t"]["outcomes"].values()) == QUESTIONS * 4
    hashes = {s.recipe_hash for s in eval_samples(parts, "t")}
    assert hashes == {_job_manifest(parts).recipe_hash} and len(eval_samples(parts, "t")) == 600


@pytest.mark.slow
def test_kubernetes_indexed_job_pods_write_the_same_output_as_one_process(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 40)
    with mock_process("--latency-ms", "10", "--answer-key", str(questions)) as url:
        single = tmp_path / "single"
        config = partition_recipe(tmp_path, url, questions, single)
        assert run_cli("run", "--config", str(config), "--quiet").returncode == 0
        pods_out = tmp_path / "pods"
        config = partition_recipe(tmp_path, url, questions, pods_out)
        pods = [indexed_job_pod(config, i) for i in range(4)]
        for pod in pods:
            finished(pod)
    assert_exactly_once(read_samples(pods_out, "t"), 40, 4)
    assert sample_keys(pods_out) == sample_keys(single)
    assert {shards.parse_name(p.name)[1] for p in shards.list_shards(pods_out, "t")} == {0, 1, 2, 3}


def test_an_output_is_refused_to_a_run_with_another_number_of_partitions(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 12)
    with mock_process("--answer-key", str(questions)) as url:
        out = tmp_path / "out"
        config = partition_recipe(tmp_path, url, questions, out, sampling="n = 1\nmax_tokens = 64")
        for i in range(2):
            assert (
                run_cli(
                    "run", "--config", str(config), "--quiet", "--partition", f"{i}/2"
                ).returncode
                == 0
            )
        before = sorted(p.name for p in out.iterdir())
        for extra in (["--partition", "0/3"], []):
            refused = run_cli("run", "--config", str(config), "--quiet", *extra)
            assert refused.returncode == 2, refused.stderr
            assert (
                "made by 2 partition(s)" in refused.stderr and "--partition I/2" in refused.stderr
            )
            assert len(refused.stderr.strip().splitlines()) == 1
        assert sorted(p.name for p in out.iterdir()) == before
        again = run_cli("run", "--config", str(config), "--quiet", "--partition", "1/2")
        assert again.returncode == 0 and "0 samples written this run (" in again.stdout
        whole = tmp_path / "whole"
        config = partition_recipe(
            tmp_path, url, questions, whole, sampling="n = 1\nmax_tokens = 64"
        )
        whole.mkdir()
        (whole / "manifest.json").write_bytes(
            msgspec.json.encode({"name": "t", "recipe_hash": "x", "recipe": {}})
        )
        refused = run_cli("run", "--config", str(config), "--partition", "0/2")
        assert (
            refused.returncode == 2
            and "made by 1 partition(s), this run is partition 0/2" in refused.stderr
        )


def test_a_held_partition_and_a_whole_run_beside_partitions_are_refused_naming_the_holder(tmp_path):
    questions = write_questions(tmp_path / "q.jsonl", 4)
    out = tmp_path / "out"
    with mock_process("--answer-key", str(questions)) as url:
        config = partition_recipe(tmp_path, url, questions, out)
        with OutputLock(out, partition=1):
            same = run_cli("run", "--config", str(config), "--partition", "1/2")
            assert same.returncode == 2 and "(partition 1)" in same.stderr and "pid" in same.stderr
            whole = run_cli("run", "--config", str(config))
            assert whole.returncode == 2 and "(partition 1)" in whole.stderr
            other = run_cli("run", "--config", str(config), "--partition", "0/2", "--quiet")
            assert other.returncode == 0, other.stderr  # partition 0 is free: it runs beside
        with OutputLock(out):
            part = run_cli("run", "--config", str(config), "--partition", "1/2")
            assert part.returncode == 2 and "output is being written by pid" in part.stderr
