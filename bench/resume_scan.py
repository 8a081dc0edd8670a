"""Restart cost: rebuilding the done-set of an output directory from shard indexes, against the
naive baseline of decoding every record, for several record and shard counts (same run).

    python bench/resume_scan.py [--records 100000,1000000] [--shards 10,100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.specs import OutputSpec  # noqa: E402
from engine.storage import shards  # noqa: E402
from engine.storage.output import OutputDir  # noqa: E402

COMPLETION = "<think>\n" + "Let me think about this step by step. " * 60 + "\n</think>\n\\boxed{42}"


async def build(directory: Path, records: int, shard_count: int) -> None:
    spec = OutputSpec(dir=str(directory), shard_records=records // shard_count, flush_records=512)
    writer = shards.ShardWriter(directory, "job", 0, spec, 0)
    for i in range(records):
        question, index = f"q{i // 16}", i % 16
        line = json.dumps(
            {
                "question_id": question,
                "sample_index": index,
                "recipe_hash": "h",
                "completion": COMPLETION,
                "verdict": {"status": "passed"},
            }
        ).encode()
        await writer.write(line + b"\n", (question, index, "h"), "math:passed")
    await writer.close()


def naive(directory: Path) -> int:
    """Decode every record of every shard (what a resume without indexes must do)."""
    index_total = 0
    for path in shards.list_shards(directory):
        index_total += shards.index_from_lines(shards.iter_lines(path)).records
    return index_total


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", default="100000,1000000")
    parser.add_argument("--shards", default="10,100")
    args = parser.parse_args()
    rows = []
    for records in (int(r) for r in args.records.split(",")):
        for shard_count in (int(s) for s in args.shards.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                directory = Path(tmp)
                asyncio.run(build(directory, records, shard_count))
                indexed, done = timed(lambda d=directory: OutputDir(d, "job").open("h", {}))
                assert done.samples == records
                full, counted = timed(lambda d=directory: naive(d))
                assert counted == records
                rows.append((records, shard_count, indexed, full))
    print(
        f"{'records':>9} {'shards':>7} {'index scan s':>13} {'full decode s':>14} {'speed-up':>9}"
    )
    for records, shard_count, indexed, full in rows:
        print(
            f"{records:>9} {shard_count:>7} {indexed:>13.3f} {full:>14.3f} {full / indexed:>9.1f}"
        )
    print(json.dumps({"bench": "resume_scan", "rows": [
        {"records": r, "shards": s, "index_scan_s": round(i, 4), "full_decode_s": round(f, 4),
         "speedup": round(f / i, 1)} for r, s, i, f in rows]}))  # fmt: skip


if __name__ == "__main__":
    main()
