"""Shards: frames, rotation, sealing, torn-tail recovery, and readers other than ours."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from engine.specs import OutputSpec
from engine.storage import frames, shards
from engine.storage.outcomes import Outcome, Scope
from engine.storage.output import DoneSet, OutputDir, RecipeChanged, Stream
from engine.storage.reader import iter_lines, summarize
from engine.storage.verify import Check, recover_part


def line(i: int) -> bytes:
    record = {"question_id": f"q{i}", "sample_index": i % 3, "recipe_hash": "h"}
    record["verdict"] = {"status": "passed" if i % 2 else "wrong_answer"}
    return json.dumps(record).encode() + b"\n"


async def write(directory: Path, count: int, **spec: object) -> shards.ShardWriter:
    writer = Stream(directory, "job").writer(OutputSpec(dir=str(directory), **spec))
    for i in range(count):
        outcome = Outcome.of_sample("", "passed" if i % 2 else "wrong_answer", None)
        await writer.write(line(i), (f"q{i}", i % 3, "h"), outcome)
    return writer


PASSED = Outcome.of_sample("", "passed", None)


def scope(recipe_hash: str) -> Scope:
    return Scope(recipe_hash, "curation", 3)


async def test_rotation_sealing_and_index(tmp_path):
    writer = await write(tmp_path, 25, flush_records=4, shard_records=10)
    await writer.close()
    paths = shards.list_shards(tmp_path)
    assert [p.name for p in paths] == [f"job-0-0000{i}.jsonl.zst" for i in range(3)]
    indexes = [shards.read_index(p) for p in paths]
    assert [i.records for i in indexes] == [12, 12, 1]  # rotation happens at a frame boundary
    assert sum(i.outcomes.get(str(PASSED), 0) for i in indexes) == 12
    keys = [k for i in indexes for k in i.keys]
    assert keys == [(f"q{i}", i % 3, "h") for i in range(25)]
    lines = [x for p in paths for x in iter_lines(p)]
    assert lines == [line(i).rstrip() for i in range(25)]


async def test_zstd_cli_reads_closed_shards(tmp_path):
    if shutil.which("zstd") is None:
        pytest.skip("zstd CLI not installed")
    writer = await write(tmp_path, 30, flush_records=7)
    await writer.close()
    (path,) = shards.list_shards(tmp_path)
    out = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    assert out == b"".join(line(i) for i in range(30))


async def test_datasets_load_dataset_reads_closed_shards(tmp_path):
    datasets = pytest.importorskip("datasets")
    writer = await write(tmp_path, 30, flush_records=7, shard_records=12)
    await writer.close()
    files = [str(p) for p in shards.list_shards(tmp_path)]
    table = datasets.load_dataset(
        "json", data_files=files, split="train", cache_dir=str(tmp_path / "c")
    )
    assert table["question_id"] == [f"q{i}" for i in range(30)]


async def test_torn_part_is_cut_at_every_possible_byte(tmp_path):
    writer = await write(tmp_path / "src", 20, flush_records=5)
    await writer.flush()
    (part,) = shards.list_shards(tmp_path / "src")
    assert part.name.endswith(".part")
    data = part.read_bytes()
    found, end = frames.walk(data)
    assert end == len(data) and len(found) == 4
    boundaries = [f.end for f in found]
    for cut in range(len(data) + 1):
        work = tmp_path / f"cut{cut}"
        work.mkdir()
        torn = work / part.name
        torn.write_bytes(data[:cut])
        recovered = recover_part(torn)
        complete = sum(1 for b in boundaries if b <= cut)
        if complete == 0:
            assert recovered is None and not list(work.iterdir())
            continue
        path, index = recovered
        assert index.records == 5 * complete
        assert list(iter_lines(path)) == [line(i).rstrip() for i in range(5 * complete)]
        assert shards.read_index(path) == index


async def test_a_part_killed_mid_seal_is_sealed_clean(tmp_path):
    """kill -9 between writing the index and the rename: the part holds all its frames, then
    some or all of an index and footer; recovery cuts them and seals again, undamaged."""
    writer = await write(tmp_path / "src", 20, flush_records=5)
    await writer.close()
    (sealed,) = shards.list_shards(tmp_path / "src")
    data = sealed.read_bytes()
    data_end = frames.walk(data)[0][-1].end
    for cut in range(data_end, len(data) + 1):
        work = tmp_path / f"cut{cut}"
        work.mkdir()
        part = work / (sealed.name + shards.PART)
        part.write_bytes(data[:cut])
        path, index = recover_part(part)
        assert index.records == 20 and Check.of(path).damage is None, cut
        assert list(iter_lines(path)) == [line(i).rstrip() for i in range(20)]


async def test_corrupt_frame_content_is_cut(tmp_path):
    writer = await write(tmp_path, 10, flush_records=5)
    await writer.flush()
    (part,) = shards.list_shards(tmp_path)
    data = bytearray(part.read_bytes())
    second = frames.walk(bytes(data))[0][1]
    data[second.end - 6] ^= 0xFF  # flips a byte of the second frame (checksum fails)
    part.write_bytes(bytes(data))
    _, index = recover_part(part)
    assert index.records == 5


async def test_output_dir_resume_and_recipe_guard(tmp_path):
    writer = await write(tmp_path, 12, flush_records=4, shard_records=8)
    await writer.flush()  # one sealed shard, one open part
    out = OutputDir(tmp_path, "job")
    out.open({"teacher": "x"}, "h")
    done = out.done_set(scope("h"))
    assert done.samples == 12 and out.samples.next_seq == 2
    assert done.missing("q0", 3) == [1, 2] and done.missing("q1", 3) == [0, 2]
    summary = summarize(tmp_path)["job"]
    assert summary.records == 12 and summary.open_parts == 0
    with pytest.raises(RecipeChanged, match="--allow-recipe-change"):
        OutputDir(tmp_path, "job").open({}, "other")
    changed = OutputDir(tmp_path, "job")
    changed.open({}, "other", allow_change=True)
    assert changed.done_set(scope("other")).samples == 0


def test_done_set_bitmasks():
    done = DoneSet()
    rng = random.Random(0)
    expected = set()
    for _ in range(500):
        key = (f"q{rng.randrange(20)}", rng.randrange(64))
        done.add(*key)
        expected.add(key)
    assert done.samples == len(expected)
    for q in range(20):
        have = {i for (qid, i) in expected if qid == f"q{q}"}
        assert set(done.missing(f"q{q}", 64)) == set(range(64)) - have


def test_walk_rejects_garbage():
    payload = zstandard.ZstdCompressor(write_checksum=True).compress(b"x\n")
    found, end = frames.walk(payload + b"garbage!")
    assert len(found) == 1 and end == len(payload)


def test_ranges_and_done_set_complete_ranges():
    assert shards.ranges([9, 3, 4, 5, 11, 10]) == [3, 6, 9, 12]
    done = DoneSet()
    done.add_complete([3, 6, 9, 12], n=4)
    done.add_complete([5, 8], n=4)  # overlaps and extends the first range
    assert done.complete_samples == 4 * (8 - 3 + 12 - 9)
    assert [done.missing("q", 4, o) == [] for o in (2, 3, 7, 8, 9, 11, 12)] == [
        False, True, True, False, True, True, False
    ]  # fmt: skip
    done.add("q", 1)
    assert done.missing("q", 4, 8) == [0, 2, 3]
