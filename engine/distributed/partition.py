"""Which partition a question belongs to: a stable hash of its exact-dedup key, modulo N.

The key is ``engine.dedup.exact.exact_key`` of the problem text (not the id), so exact duplicates
with different ids meet in one partition and exact dedup is the same as in one process. Near
duplicates (MinHash) may fall into different partitions and are then both kept. The key is
a blake2b digest, the same in every process and on every machine, whatever order the
sources yield; Python's ``hash`` is salted per process and would not be.
"""

from __future__ import annotations

import argparse
import re
from typing import Annotated

import msgspec

from engine.dedup.exact import exact_key
from engine.records import Question

_SPEC = re.compile(r"^(\d+)/(\d+)$")


class Partition(msgspec.Struct, frozen=True):
    """Partition ``index`` of ``count`` (0 <= index < count)."""

    index: Annotated[int, msgspec.Meta(ge=0)]
    count: Annotated[int, msgspec.Meta(gt=0)]

    def __post_init__(self) -> None:
        if self.index >= self.count:
            raise ValueError(f"partition {self.index}/{self.count}: the index must be below N")

    @classmethod
    def parse(cls, text: str) -> Partition:
        """``I/N``, e.g. ``3/8``; anything else is an ``argparse.ArgumentTypeError`` naming
        the value (argparse prints it as a usage error, exit 2)."""
        match = _SPEC.match(text.strip())
        try:
            if match is None:
                raise ValueError(f"{text!r} is not I/N (e.g. 0/4)")
            return cls(int(match[1]), int(match[2]))
        except (ValueError, msgspec.ValidationError) as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, question: Question) -> bool:
        return partition_of(question.problem, self.count) == self.index


def partition_of(problem: str, count: int) -> int:
    """The partition of a problem text among ``count``."""
    return exact_key(problem) % count
