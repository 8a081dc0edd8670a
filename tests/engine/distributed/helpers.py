"""Partitioned runs as plain processes, the way the Slurm and Kubernetes recipes start them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

from engine.records import Sample
from engine.storage import shards
from engine.storage.reader import iter_lines
from tests.helpers import REPO, read_samples, recipe_toml

SBATCH = REPO / "deploy" / "slurm" / "thoughtmill.sbatch"
INDEXED_JOB = REPO / "deploy" / "k8s" / "indexed-job.yaml"


def sbatch_task(config: Path, index: int, count: int, *options: str) -> subprocess.Popen:
    """Array task ``index`` of ``count``: the sbatch script itself, run by bash with the
    variables Slurm sets (its #SBATCH lines are comments to bash)."""
    env = os.environ | {
        "SLURM_ARRAY_TASK_ID": str(index),
        "SLURM_ARRAY_TASK_COUNT": str(count),
        "PYTHON": sys.executable,
    }
    return subprocess.Popen(
        ["bash", str(SBATCH), str(config), *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def indexed_job_pod(config: Path, index: int) -> subprocess.Popen:
    """Pod ``index`` of the indexed Job: its container's command and env from the manifest,
    with the completion index Kubernetes sets and the recipe's path here."""
    job = yaml.safe_load(INDEXED_JOB.read_text())
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["PARTITIONS"] == str(job["spec"]["completions"])
    env |= {"JOB_COMPLETION_INDEX": str(index), "THOUGHTMILL_CONFIG": str(config)}
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.Popen(
        container["command"],
        cwd=REPO,
        env=os.environ | env | {"PATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finished(process: subprocess.Popen, timeout: float = 240) -> str:
    """Wait for a run; its stderr (it must have exited 0)."""
    _, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr.decode()
    return stderr.decode()


def worker_records(out: Path, worker: int, name: str = "t") -> int:
    """Records on disk in one partition's shards of a stream, read while it writes them."""
    while True:
        try:
            found = shards.list_shards(out, name)
            paths = [p for p in found if shards.parse_name(p.name)[1] == worker]
            return sum(1 for path in paths for _ in iter_lines(path))
        except FileNotFoundError:
            continue


def write_rows(path: Path, rows: Iterable[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def partition_recipe(tmp_path: Path, url: str, questions: Path, out: Path, **sections: str) -> Path:
    path = tmp_path / f"{out.name}.toml"
    output = f'dir = "{out}"\nshard_records = 30\nflush_records = 4\nfsync = "flush"'
    teacher = f'model = "mock"\nbase_url = "{url}"\nmax_in_flight = 8\nbackoff_base_s = 0.02'
    sections = {"output": output, "teacher": teacher} | sections
    path.write_text(recipe_toml(url, questions, out, **sections))
    return path


def sample_keys(out: Path) -> list[tuple[str, int, str, str | None]]:
    """What the samples are, sorted: key, completion and verdict (the same from any run)."""
    samples: list[Sample] = read_samples(out, "t")
    return sorted(
        (s.question_id, s.sample_index, s.completion or "", s.verdict and s.verdict.status)
        for s in samples
    )
