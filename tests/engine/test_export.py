"""Training export from real job output: both chat formats, filters, dedupe guard, errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import msgspec
import pytest
import zstandard

from engine.export import ExportError, ExportSpec, export
from engine.job import Job
from engine.records import Sample
from engine.storage import shards
from tests.helpers import write_questions

datasets = pytest.importorskip("datasets")

SYSTEM = "Think step by step, then box the answer."
PROMPT = f'system = "{SYSTEM}"\nuser = "{{problem}}"'
NO_VERIFY = "math = { enabled = false }"  # where verdicts do not matter: no worker pool to start


def read_samples(directory: Path) -> list[Sample]:
    return [
        msgspec.json.decode(line, type=Sample)
        for path in shards.list_shards(directory)
        for line in shards.iter_lines(path)
    ]


def load_rows(dest: Path, cache: Path) -> list[dict]:
    files = sorted(str(p) for p in dest.glob("*.jsonl.zst"))
    table = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(cache))
    return table.to_list()


async def run_job(
    tmp_path, mock_teacher, make_recipe, count=30, mock=None, retries=8, **sections
) -> Path:
    """A job over ``count`` math questions (n = 4) against a mock with ``mock`` options."""
    questions = write_questions(tmp_path / "q.jsonl", count)
    options = {"answer_key": str(questions), "correct_rate": 0.6, "seed": 4} | (mock or {})
    async with mock_teacher(**options) as server:
        teacher = (
            f'model = "mock"\nbase_url = "{server.url}"\nmax_attempts = {retries}\n'
            "backoff_base_s = 0.01\nrequest_timeout_s = 5"
        )
        recipe = make_recipe(server.url, questions, teacher=teacher, **sections)
        assert await Job(recipe).run() == 0
    return tmp_path / "out"


async def test_export_reads_back_with_datasets_in_both_chat_formats(
    tmp_path, mock_teacher, make_recipe
):
    out = await run_job(
        tmp_path, mock_teacher, make_recipe, 40,
        mock={"truncate_rate": 0.1, "error_rate": 0.15}, retries=1, prompt=PROMPT,
        limits="max_failed_share = 0.5",  # failures wanted: more than the default 5% fails the run
    )  # fmt: skip
    samples = read_samples(out)
    wanted = {s.key[:2]: s for s in samples if s.completion is not None and not s.truncated}
    failed = Counter(f"failed:{s.failure.kind}" for s in samples if s.failure)
    truncated = sum(s.truncated for s in samples)
    assert wanted and failed and truncated  # the run has every kind of record

    report = await export(out, tmp_path / "train", ExportSpec(shard_records=50))
    assert report.records_in == len(samples) == 160
    assert report.records_out == len(wanted)
    assert report.dropped == {**failed, "truncated": truncated}
    assert report.domains_in == {"math": 160} and report.domains_out == {"math": len(wanted)}
    assert len(report.shards) == -(-len(wanted) // 50)
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == sorted(
        Path(p).name for p in report.shards
    )
    first = Path(report.shards[0])
    assert shards.read_index(first).records == 50  # `status` reads it like any shard
    if shutil.which("zstd"):  # plain zstd JSONL: the index frame is skippable
        text = subprocess.run(["zstd", "-dc", str(first)], capture_output=True, check=True).stdout
        assert len(text.splitlines()) == 50

    rows = load_rows(tmp_path / "train", tmp_path / "cache")
    assert {(r["question_id"], r["sample_index"]) for r in rows} == set(wanted)
    assert len(rows) == len(wanted)
    for row in rows:
        sample = wanted[(row["question_id"], row["sample_index"])]
        user = sample.messages[-1].content
        assert row["conversations"] == [
            {"from": "system", "value": SYSTEM},
            {"from": "human", "value": user},
            {"from": "gpt", "value": sample.completion},
        ]
        assert row["messages"] == [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": sample.completion},
        ]
        assert row["messages"][-1]["content"].startswith("<think>\n")
        assert "</think>" in row["messages"][-1]["content"]
        assert row["verdict"] == sample.verdict.status and row["seed"] == sample.seed


async def test_passed_only_and_truncated_kept_on_request(tmp_path, mock_teacher, make_recipe):
    out = await run_job(tmp_path, mock_teacher, make_recipe, mock={"truncate_rate": 0.2})
    samples = read_samples(out)
    truncated = {s.key[:2] for s in samples if s.truncated}
    passed = {s.key[:2] for s in samples if s.verdict and s.verdict.passed} - truncated
    assert truncated and passed

    report = await export(out, tmp_path / "passed", ExportSpec(answer_filter="passed"))
    rows = load_rows(tmp_path / "passed", tmp_path / "cache")
    assert {(r["question_id"], r["sample_index"]) for r in rows} == passed
    assert {r["verdict"] for r in rows} == {"passed"}
    assert report.dropped == {
        "truncated": len(truncated),
        "answer_filter:not_passed": len(samples) - len(truncated) - len(passed),
    }

    report = await export(out, tmp_path / "all", ExportSpec(keep_truncated=True))
    rows = load_rows(tmp_path / "all", tmp_path / "cache")
    assert len(rows) == len(samples) == report.records_out and report.dropped == {}
    assert {(r["question_id"], r["sample_index"]) for r in rows if r["truncated"]} == truncated
    assert {r["finish_reason"] for r in rows if r["truncated"]} == {"length"}


def boxed_answer(completion: str) -> str:
    return re.findall(r"\\boxed\{([^}]*)\}", completion)[-1]


async def test_majority_vote_where_there_is_no_gold(tmp_path, mock_teacher, make_recipe):
    keyed = write_questions(tmp_path / "key.jsonl", 25)  # the mock knows the answers ...
    plain = tmp_path / "plain.jsonl"  # ... the job does not: nothing to verify against
    rows = [json.loads(line) for line in keyed.read_text().splitlines()]
    plain.write_text(
        "".join(json.dumps({"id": r["id"], "problem": r["problem"]}) + "\n" for r in rows)
    )
    async with mock_teacher(answer_key=str(keyed), correct_rate=0.7) as server:
        recipe = make_recipe(server.url, plain, sampling="n = 8")
        assert await Job(recipe).run() == 0
    samples = read_samples(tmp_path / "out")
    assert all(s.verdict is None for s in samples)
    expected = set()
    majority_is_gold = 0
    gold = {f"s:{r['id']}": r["answer"] for r in rows}
    for qid in gold:
        group = sorted((s for s in samples if s.question_id == qid), key=lambda s: s.sample_index)
        answers = [boxed_answer(s.completion) for s in group]
        counts = Counter(answers)
        top = max(counts.values())
        winner = next(a for a in answers if counts[a] == top)  # ties: the lowest sample index
        expected |= {
            (qid, s.sample_index) for s, a in zip(group, answers, strict=True) if a == winner
        }
        majority_is_gold += winner == gold[qid]
    assert majority_is_gold >= 20

    report = await export(out := tmp_path / "out", tmp_path / "voted", ExportSpec(
        answer_filter={"math": "majority"}
    ))  # fmt: skip
    got = {(r["question_id"], r["sample_index"]) for r in load_rows(tmp_path / "voted", out)}
    assert got == expected
    assert report.dropped == {"answer_filter:minority": 200 - len(expected)}


async def test_dedupe_guard_and_earlier_recipes(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 10)
    async with mock_teacher(answer_key=str(questions)) as server:
        recipe = make_recipe(server.url, questions, sampling="n = 2", verify=NO_VERIFY)
        assert await Job(recipe).run() == 0
        out = tmp_path / "out"
        (first,) = shards.list_shards(out)
        shutil.copy(first, out / "t-7-00000.jsonl.zst")  # the same records twice
        report = await export(out, tmp_path / "once", ExportSpec())
        assert (report.records_in, report.records_out, report.dropped) == (
            40,
            20,
            {"duplicate": 20},
        )

        sampling = "n = 2\ntemperature = 0.5"
        hotter = make_recipe(server.url, questions, sampling=sampling, verify=NO_VERIFY)
        assert await Job(hotter, allow_recipe_change=True).run() == 0
    current = await export(out, tmp_path / "current", ExportSpec())
    assert (current.records_in, current.records_out) == (60, 20)
    assert current.dropped == {"earlier_recipe": 40}
    rows = load_rows(tmp_path / "current", tmp_path / "cache")
    assert {r["recipe_hash"] for r in rows} == {hotter.sample_hash()}
    every = await export(out, tmp_path / "all", ExportSpec(recipes="all"))
    assert (every.records_out, every.dropped) == (20, {"duplicate": 40})


async def test_export_errors_name_the_file(tmp_path, mock_teacher, make_recipe):
    with pytest.raises(ExportError, match="not an output directory"):
        await export(tmp_path, tmp_path / "x", ExportSpec())
    out = await run_job(tmp_path, mock_teacher, make_recipe, 3, verify=NO_VERIFY)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="full: exists and is not an empty directory"):
        await export(out, tmp_path / "full", ExportSpec())

    staging = tmp_path / "train.partial"  # left by an export that was killed
    staging.mkdir()
    (staging / "train-0-00000.jsonl.zst.part").write_bytes(b"torn")
    (tmp_path / "train").mkdir()  # an empty destination is fine
    report = await export(out, tmp_path / "train", ExportSpec())
    assert report.records_out == 12 and not staging.exists()

    bad = out / "t-9-00000.jsonl.zst"
    lines = [b'{"question_id": "s:q0", "sample_index": 0}', b"{}"]
    bad.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(ExportError, match=r"t-9-00000.jsonl.zst: record 1: Object missing"):
        await export(out, tmp_path / "again", ExportSpec())
    assert not (tmp_path / "again").exists()
