"""Damaged shards: every read checks each frame, readers report the file, frame and records lost
and exit 1 unless told to skip, ``verify`` checks a whole output, and ``run`` quarantines the
shard and makes exactly the lost pairs again."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from engine.cli import main
from engine.job import Job
from engine.stages.plan import contiguous_runs
from engine.storage import frames, shards, verify
from engine.storage.output import OutputDir
from engine.storage.reader import open_shards, summarize
from tests.helpers import assert_exactly_once, read_samples, run_cli, write_questions

QUESTIONS, N = 40, 4
OUTPUT = "shard_records = 50\nflush_records = 8"


def flip(path: Path, at: int, count: int = 40) -> None:
    data = bytearray(path.read_bytes())
    for i in range(at, at + count):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


def data_frame(path: Path, number: int) -> tuple[int, int, int]:
    """(start, end, records) of a closed shard's data frame, from its index."""
    ends = shards.read_index(path).frames
    start = ends[number - 1][0] if number else 0
    return start, *ends[number]


def flipped_data_frame(path: Path) -> int:
    """The issue's 40 flipped bytes, inside the shard's third frame: that frame is lost."""
    start, end, records = data_frame(path, 2)
    flip(path, start + (end - start) // 3)
    return records


def truncated(path: Path) -> None:
    """Cut a closed shard at 60%: its index and the frames after the cut are gone."""
    os.truncate(path, path.stat().st_size * 3 // 5)
    return None


def flipped_index(path: Path) -> int:
    size = path.stat().st_size
    offset = frames.read_footer(path.read_bytes()[-frames.FOOTER_SIZE :])
    flip(path, offset + 12, min(40, size - frames.FOOTER_SIZE - offset - 12))
    return 0


DAMAGE = {
    "40 bytes flipped in a data frame": flipped_data_frame,
    "truncated": truncated,
    "index frame corrupted": flipped_index,
}


async def made(tmp_path: Path, mock, make_recipe) -> tuple[Path, Path, object]:
    """An output of 40 questions x 4 samples in shards of 56 records (frames of 8), and its
    second closed shard."""
    questions = tmp_path / "q.jsonl"
    output = f'dir = "{tmp_path / "out"}"\n{OUTPUT}'
    recipe = make_recipe(mock.url, questions, output=output)
    assert await Job(recipe).run() == 0
    out = tmp_path / "out"
    closed = shards.list_shards(out, "t")
    assert len(closed) >= 3 and all(shards.read_index(p).frames for p in closed)
    return out, closed[1], recipe


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """``python -m engine ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("damage", DAMAGE)
async def test_readers_report_damage_and_run_makes_exactly_the_lost_pairs_again(
    tmp_path, mock_teacher, make_recipe, capsys, damage
):
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    async with mock_teacher(answer_key=str(questions)) as mock:
        await damaged_then_regenerated(tmp_path, mock, make_recipe, capsys, damage)


async def damaged_then_regenerated(tmp_path: Path, mock, make_recipe, capsys, damage) -> None:
    out, victim, recipe = await made(tmp_path, mock, make_recipe)
    total = QUESTIONS * N
    before = {(s.question_id, s.sample_index) for s in read_samples(out)}
    expected_lost = DAMAGE[damage](victim)
    corrupted = victim.read_bytes()

    status = run_cli("status", str(out))  # a real process: one error line per shard, exit 1
    assert status.returncode == 1 and f"error: {victim}: damaged shard" in status.stderr
    assert "--skip-damaged" in status.stderr and "Traceback" not in status.stderr
    code, stdout, stderr = cli(capsys, "status", str(out), "--json", "--skip-damaged")
    assert code == 0 and f"warning: {victim}: damaged" in stderr
    summary = json.loads(stdout)["streams"]["t"]
    (reported,) = summary["damaged"]
    readable = summary["records"]
    if expected_lost is None:  # an index lost with its frames: how many were lost is unknown
        assert reported["lost"] is None and readable < total
        assert "how many were lost is unknown" in status.stderr
    elif expected_lost == 0:  # only the index is damaged: every record is still readable
        assert reported["lost"] is None and readable == total
    else:
        assert reported["lost"] == expected_lost and readable == total - expected_lost
        assert reported["frame"] == 2 and f"{expected_lost} lost" in status.stderr
    for command in ("cat", "verify"):
        code, stdout, stderr = cli(capsys, command, str(out))
        assert code == 1 and f"{victim}: damaged shard" in stdout + stderr
    code, stdout, _ = cli(capsys, "cat", str(out), "--skip-damaged")
    assert code == 0 and len(stdout.splitlines()) == readable
    kept = {(r["question_id"], r["sample_index"]) for r in map(json.loads, stdout.splitlines())}
    lost_pairs = before - kept
    refused = run_cli("export", str(out), str(tmp_path / "x"))
    assert refused.returncode == 1 and f"error: {victim}: damaged shard" in refused.stderr
    exported = run_cli("export", str(out), str(tmp_path / "y"), "--skip-damaged")
    assert exported.returncode == 0, exported.stderr

    requests = mock.stats["requests"]
    job = Job(recipe)
    assert await job.run() == 0
    assert job.metrics.samples_written == total - readable  # exactly the lost pairs, again
    lost_by_question: dict[str, list[int]] = {}
    for question, index in sorted(lost_pairs):
        lost_by_question.setdefault(question, []).append(index)
    asked = sum(len(list(contiguous_runs(v, N))) for v in lost_by_question.values())
    assert mock.stats["requests"] - requests == asked  # one request per run of lost indices
    assert (out / "quarantine" / victim.name).read_bytes() == corrupted  # kept, not deleted
    samples = read_samples(out)
    assert_exactly_once(samples, QUESTIONS, N)
    assert all(s.failure is None for s in samples)
    # the lost pairs named by the index carry the loss in their history; with the index lost,
    # the missing pairs are found by their keys instead (and have none)
    remade = {(s.question_id, s.sample_index) for s in samples if s.history}
    assert remade == (lost_pairs if expected_lost else set())
    assert all([h.kind for h in s.history] in ([], ["lost"]) for s in samples)
    assert cli(capsys, "verify", str(out))[0] == 0
    assert cli(capsys, "status", str(out))[0] == 0
    again = Job(recipe)
    assert await again.run() == 0 and again.metrics.samples_written == 0


async def test_a_restart_reads_no_frame_of_a_shard_it_knows_unchanged(
    tmp_path, mock_teacher, make_recipe, monkeypatch
):
    """The verified cache: shards the writer sealed (or a reader checked) are not read again
    while their (size, mtime_ns, ctime_ns, inode) hold, so a restart costs O(shards); any
    change through the file system, even with the mtime put back, is read and caught."""
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    async with mock_teacher(answer_key=str(questions)) as mock:
        out, victim, recipe = await made(tmp_path, mock, make_recipe)
    reads: Counter[str] = Counter()
    real = verify.Check.of.__func__

    def counted(cls, path, end=None):
        reads[path.name] += 1
        return real(cls, path, end)

    monkeypatch.setattr(verify.Check, "of", classmethod(counted))
    OutputDir(out, "t").open({}, recipe.sample_hash())
    assert not reads  # every closed shard known: footers only
    assert summarize(out)["t"].damaged == []
    assert not reads
    stat = victim.stat()
    flipped_data_frame(victim)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the mtime put back
    (damaged,) = summarize(out)["t"].damaged
    assert damaged.path == str(victim) and reads == {victim.name: 1}


def test_a_clean_output_verifies_and_an_unreadable_manifest_does_not(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{")
    assert run_cli("verify", str(out)).returncode == 1
    assert open_shards(out) == []
