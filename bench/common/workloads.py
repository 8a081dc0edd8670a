"""The two workloads of bench/engine_throughput.py: a question file and the mock that answers it.

- friendly: ``Compute i + (i+1).`` with integer golds; the mock's plain replies (60 tokens of
  filler, then the gold or a near miss boxed): the verifier's integer fast path, every time.
- realistic: MATH-500's problems and LaTeX golds (``../shared/data/math/math500.json`` when
  present, else the golds of the project's equivalence fixtures, tests/data/math_pairs.py); the
  mock's realistic replies: ``<think>`` traces of 2-16 KiB, final answers as equivalent rewrites
  of the gold or near misses, and a share of hostile replies (no answer, unterminated think,
  huge exponents, deep nesting, a mebibyte of text).

Every question is distinct (its number opens the problem), so ids, seeds and replies differ;
the golds of the realistic file cycle through the 500 (or fixture) golds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec

ROOT = Path(__file__).resolve().parents[2]
MATH500 = ROOT.parent / "shared" / "data" / "math" / "math500.json"

Name = Literal["friendly", "realistic"]
NAMES: tuple[Name, ...] = ("friendly", "realistic")


class Workload(msgspec.Struct, frozen=True):
    """What a bench round runs: questions, the mock's flags, and the engine's reply budget."""

    name: Name
    mock_flags: tuple[str, ...]
    max_tokens: int
    source: str  # where the golds come from, for the report

    def write_questions(self, path: Path, count: int) -> None:
        """``count`` JSONL rows {problem, answer}."""
        rows = _friendly(count) if self.name == "friendly" else _realistic(count)
        with path.open("wb") as f:
            for problem, answer in rows:
                f.write(msgspec.json.encode({"problem": problem, "answer": answer}) + b"\n")


def workload(name: Name, hostile_rate: float, trace_kb: str) -> Workload:
    if name == "friendly":
        return Workload(name, ("--completion-tokens", "60"), 512, "integers")
    flags = ("--replies", "realistic", "--trace-kb", trace_kb, "--hostile-rate", str(hostile_rate))
    source = "MATH-500" if MATH500.exists() else "tests/data/math_pairs.py golds"
    return Workload(name, flags, 32768, source)


def _friendly(count: int) -> Iterator[tuple[str, str]]:
    for i in range(count):
        yield f"Compute {i} + {i + 1}.", str(2 * i + 1)


def _golds() -> list[tuple[str, str]]:
    """(problem, gold) pairs of MATH-500, else of the equivalence fixtures."""
    if MATH500.exists():
        return [(row["problem"], row["answer"]) for row in json.loads(MATH500.read_text())]
    from tests.data.math_pairs import EQUIVALENT

    golds = dict.fromkeys(gold for pairs in EQUIVALENT.values() for _, gold in pairs)
    return [(f"Find the value of fixture answer {j}.", gold) for j, gold in enumerate(golds)]


def _realistic(count: int) -> Iterator[tuple[str, str]]:
    golds = _golds()
    for i in range(count):
        problem, gold = golds[i % len(golds)]
        yield f"Question {i}.\n{problem}", gold
