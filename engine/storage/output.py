"""An output directory: manifest + shards, and the done-set that makes resume exactly-once."""

from __future__ import annotations

import bisect
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from engine.records import JobState, Manifest
from engine.specs import OutputSpec
from engine.storage import shards
from engine.storage.outcomes import Scope
from engine.storage.reader import read_stream

T = TypeVar("T")

MANIFEST = "manifest.json"


class RecipeChanged(Exception):
    """The output was made by a recipe whose samples differ from this one."""


class DoneSet:
    """Which (question, sample index) pairs exist: complete questions as ordinal ranges, the
    rest as one int bitmask of sample indices per question."""

    def __init__(self) -> None:
        self.masks: dict[str, int] = {}
        self.samples = 0  # in the bitmasks
        self.complete_samples = 0  # in the complete ranges
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, question_id: str, index: int) -> None:
        mask = self.masks.get(question_id, 0)
        if not mask >> index & 1:
            self.masks[question_id] = mask | 1 << index
            self.samples += 1

    def add_complete(self, flat_ranges: list[int], n: int) -> None:
        """Ordinal ranges ``[start, end)`` (flattened) of questions with all ``n`` samples."""
        pairs = [*zip(self._starts, self._ends, strict=True)]
        pairs += zip(flat_ranges[::2], flat_ranges[1::2], strict=True)
        self._starts, self._ends = [], []
        for start, end in sorted(pairs):
            if self._ends and start <= self._ends[-1]:
                self._ends[-1] = max(self._ends[-1], end)
            else:
                self._starts.append(start)
                self._ends.append(end)
        self.complete_samples = n * sum(
            e - s for s, e in zip(self._starts, self._ends, strict=True)
        )

    def missing(self, question_id: str, n: int, ordinal: int | None = None) -> list[int]:
        if ordinal is not None:
            at = bisect.bisect_right(self._starts, ordinal) - 1
            if at >= 0 and ordinal < self._ends[at]:
                return []
        mask = self.masks.get(question_id, 0)
        return [i for i in range(n) if not mask >> i & 1]


class Summary(msgspec.Struct):
    """Counts of one stream of shards, from the shards alone (``status``)."""

    shards: int = 0
    open_parts: int = 0
    records: int = 0
    questions: int = 0
    outcomes: dict[str, int] = {}


def summarize(directory: Path) -> dict[str, Summary]:
    """Every stream's counts from its shard indexes (torn ``.part`` files by their valid
    frames); changes nothing on disk."""
    found: dict[str, tuple[Summary, set[str], Counter[str]]] = {}
    for path in shards.list_shards(directory):
        parsed = shards.parse_name(path.name)
        assert parsed is not None
        summary, questions, outcomes = found.setdefault(parsed[0], (Summary(), set(), Counter()))
        index = _index(path)
        if parsed[3]:
            summary.open_parts += 1
        else:
            summary.shards += 1
        summary.records += index.records
        outcomes.update(index.outcomes)
        questions.update(key[0] for key in index.keys)
    for summary, questions, outcomes in found.values():
        summary.questions = len(questions)
        summary.outcomes = dict(outcomes)
    return {name: found[name][0] for name in sorted(found)}


def _index(path: Path) -> shards.ShardIndex:
    if not path.name.endswith(shards.PART) and (index := shards.read_index(path)) is not None:
        return index
    return shards.index_from_lines(shards.iter_lines(path))


class Stream:
    """One family of shards, ``NAME-{worker}-{seq}.jsonl.zst``, in an output directory."""

    def __init__(self, directory: Path, name: str, worker: int = 0):
        self.directory = directory
        self.name = name
        self.worker = worker
        self.next_seq = 0
        self.records = 0
        self.shard_count = 0
        self.outcomes: Counter[str] = Counter()

    def recover(self) -> list[shards.ShardIndex]:
        """Seal torn ``.part`` files at their last complete frame; every shard's index."""
        indexes = []
        for path in shards.list_shards(self.directory, self.name):
            if path.name.endswith(shards.PART):
                recovered = shards.recover_part(path)
                if recovered is None:
                    continue
                index = recovered[1]
            else:
                index = _index(path)
            self.add_closed(index)
            indexes.append(index)
            parsed = shards.parse_name(path.name)
            if parsed and parsed[1] == self.worker:
                self.next_seq = max(self.next_seq, parsed[2] + 1)
        return indexes

    def writer(
        self,
        spec: OutputSpec,
        scope: Scope | None = None,
        is_open: Callable[[str], bool] | None = None,
    ) -> shards.ShardWriter:
        return shards.ShardWriter(spec, self._next_path, scope.encode() if scope else "", is_open)

    def _next_path(self) -> Path:
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        return self.directory / shards.shard_name(self.name, self.worker, seq)

    def read(self, kind: type[T]) -> Iterator[T]:
        """Every record of this stream, decoded as ``kind``."""
        return read_stream(self.directory, self.name, kind)

    def known_ids(self) -> set[str]:
        """Question ids already written to a question-keyed stream (recovering torn parts)."""
        return {key[0] for index in self.recover() for key in index.keys}

    def add_closed(self, index: shards.ShardIndex) -> None:
        self.shard_count += 1
        self.records += index.records
        self.outcomes.update(index.outcomes)


class OutputDir:
    """An output directory of one job: the manifest and the samples stream."""

    def __init__(self, directory: Path, name: str, worker: int = 0):
        self.directory = directory
        self.samples = Stream(directory, name, worker)
        self.manifest: Manifest | None = None

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def stream(self, suffix: str) -> Stream:
        """Another family of shards of this job, e.g. ``excluded`` or ``scored``."""
        return Stream(self.directory, f"{self.samples.name}_{suffix}", self.samples.worker)

    def open(
        self,
        recipe: dict[str, Any],
        scope: Scope,
        allow_change: bool = False,
    ) -> DoneSet:
        """Recover torn parts, refuse a changed recipe, and rebuild the done-set from indexes:
        from the complete ranges and open keys of shards sealed in this ``scope``, else (older
        shards, recovered parts) from every key."""
        self.directory.mkdir(parents=True, exist_ok=True)
        previous = self._read_manifest()
        now = time.time()
        recipe_hash = scope.recipe_hash
        if previous is None:
            self.manifest = Manifest(
                self.samples.name, recipe_hash, recipe, created=now, updated=now
            )
        elif previous.recipe_hash != recipe_hash:
            if not allow_change:
                raise RecipeChanged(
                    f"{self.manifest_path}: made by recipe {previous.recipe_hash}, this recipe is "
                    f"{recipe_hash} (model, prompt or sampling changed); pass "
                    "--allow-recipe-change to add samples under the new recipe"
                )
            history = [*previous.previous_hashes, previous.recipe_hash]
            self.manifest = msgspec.structs.replace(
                previous, recipe_hash=recipe_hash, recipe=recipe, previous_hashes=history
            )
        else:
            self.manifest = msgspec.structs.replace(previous, recipe=recipe)
        done = DoneSet()
        for index in self.samples.recover():
            if index.scope == scope.encode():
                done.add_complete(index.complete, scope.n)
                keys = index.open_keys
            else:
                keys = index.keys
            for question_id, sample_index, key_hash in keys:
                if key_hash == recipe_hash:
                    done.add(question_id, sample_index)
        self.write_manifest("running")
        return done

    def _read_manifest(self) -> Manifest | None:
        try:
            return msgspec.json.decode(self.manifest_path.read_bytes(), type=Manifest)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise RecipeChanged(f"{self.manifest_path}: unreadable manifest: {e}") from None

    def write_manifest(self, state: JobState, funnel: dict[str, Any] | None = None) -> None:
        """Atomically replace the manifest (write, fsync, rename)."""
        assert self.manifest is not None
        self.manifest = msgspec.structs.replace(
            self.manifest,
            state=state,
            updated=time.time(),
            records=self.samples.records,
            shards=self.samples.shard_count,
            outcomes=dict(self.samples.outcomes),
            funnel=funnel if funnel is not None else self.manifest.funnel,
        )
        tmp = self.manifest_path.with_suffix(".json.tmp")
        with open(tmp, "wb") as f:
            f.write(msgspec.json.format(msgspec.json.encode(self.manifest)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path)
