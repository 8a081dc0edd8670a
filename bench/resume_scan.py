"""Restart cost: opening an output directory and rebuilding its done-set from the shards'
complete ranges with every shard known unchanged by the verified cache (the engine's restart),
from every key in the indexes (the question stream changed), with a cold verified cache (every
frame of every shard read and checked once, as after copying an output), and by decoding every
record (the naive baseline), for several record and shard counts, in the same run.

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
from engine.storage import shards, verified  # noqa: E402
from engine.storage.outcomes import Outcome, Scope  # noqa: E402
from engine.storage.output import OutputDir, Stream  # noqa: E402
from engine.storage.reader import iter_lines  # noqa: E402

SCOPE = Scope("h", "c", 16)
CHANGED = Scope("h", "changed", 16)
COMPLETION = "<think>\n" + "Let me think about this step by step. " * 60 + "\n</think>\n\\boxed{42}"


async def build(directory: Path, records: int, shard_count: int) -> None:
    spec = OutputSpec(dir=str(directory), shard_records=records // shard_count, flush_records=512)
    writer = Stream(directory, "job", remember=True).writer(spec, SCOPE)  # as the engine does
    passed = Outcome("math", "passed")
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
        await writer.write(line + b"\n", (question, index, "h"), passed)
        if index == 15:
            writer.completed(i // 16)
    await writer.close()


def resume(directory: Path, scope: Scope):
    """What a restart does: open the output (recover, read the indexes), build the done-set."""
    output = OutputDir(directory, "job")
    output.open({}, scope.recipe_hash)
    return output.done_set(scope)


def naive(directory: Path) -> int:
    """Decode every record of every shard (what a resume without indexes must do)."""
    index_total = 0
    for path in shards.list_shards(directory):
        index_total += shards.index_from_lines(iter_lines(path)).records
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
                ranged, done = timed(lambda d=directory: resume(d, SCOPE))
                assert done.complete_samples == records
                # another question stream: every key is read
                indexed, done = timed(lambda d=directory: resume(d, CHANGED))
                assert done.samples == records
                (directory / verified.CACHE).unlink()
                cold, done = timed(lambda d=directory: resume(d, SCOPE))
                assert done.complete_samples == records
                full, counted = timed(lambda d=directory: naive(d))
                assert counted == records
                rows.append((records, shard_count, ranged, indexed, cold, full))
    head = ("records", "shards", "ranges s", "all keys s", "cold cache s", "decode s")
    print("{:>9} {:>7} {:>9} {:>11} {:>13} {:>9}".format(*head))
    for records, shard_count, ranged, indexed, cold, full in rows:
        print(
            f"{records:>9} {shard_count:>7} {ranged:>9.4f} {indexed:>11.3f} {cold:>13.3f} "
            f"{full:>9.3f}"
        )
    result = [
        {"records": r, "shards": n, "ranges_s": round(g, 4), "all_keys_s": round(i, 4),
         "cold_cache_s": round(c, 4), "full_decode_s": round(f, 4)}
        for r, n, g, i, c, f in rows
    ]  # fmt: skip
    print(json.dumps({"bench": "resume_scan", "rows": result}))


if __name__ == "__main__":
    main()
