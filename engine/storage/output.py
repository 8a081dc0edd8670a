"""An output directory: manifest + shards, and the done-set that makes resume exactly-once."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from engine.storage import shards

MANIFEST = "manifest.json"


class RecipeChanged(Exception):
    """The output was made by a recipe whose samples differ from this one."""


class Manifest(msgspec.Struct, omit_defaults=True):
    name: str
    recipe_hash: str
    recipe: dict[str, Any]
    state: str = "running"
    created: float = 0.0
    updated: float = 0.0
    previous_hashes: list[str] = []
    records: int = 0
    shards: int = 0
    outcomes: dict[str, int] = {}
    funnel: dict[str, Any] = {}


class DoneSet:
    """Which (question, sample index) pairs exist: one int bitmask per question."""

    def __init__(self) -> None:
        self.masks: dict[str, int] = {}
        self.samples = 0

    def add(self, question_id: str, index: int) -> None:
        mask = self.masks.get(question_id, 0)
        if not mask >> index & 1:
            self.masks[question_id] = mask | 1 << index
            self.samples += 1

    def missing(self, question_id: str, n: int) -> list[int]:
        mask = self.masks.get(question_id, 0)
        return [i for i in range(n) if not mask >> i & 1]


class Summary(msgspec.Struct):
    """Counts from the shards alone (``status``)."""

    shards: int
    open_parts: int
    records: int
    outcomes: dict[str, int]
    questions: int


def summarize(directory: Path) -> Summary:
    """Read every shard's index (torn ``.part`` files by their valid frames); change nothing."""
    outcomes: Counter[str] = Counter()
    questions: set[str] = set()
    closed = parts = records = 0
    for path in shards.list_shards(directory):
        index = _index(path)
        if path.name.endswith(shards.PART):
            parts += 1
        else:
            closed += 1
        records += index.records
        outcomes.update(index.outcomes)
        questions.update(key[0] for key in index.keys)
    return Summary(closed, parts, records, dict(outcomes), len(questions))


def _index(path: Path) -> shards.ShardIndex:
    if not path.name.endswith(shards.PART) and (index := shards.read_index(path)) is not None:
        return index
    return shards.index_from_lines(shards.iter_lines(path))


class OutputDir:
    """Opens (or creates) an output directory for one job and worker."""

    def __init__(self, directory: Path, name: str, worker: int = 0):
        self.directory = directory
        self.name = name
        self.worker = worker
        self.manifest: Manifest | None = None
        self.outcomes: Counter[str] = Counter()
        self.records = 0
        self.shard_count = 0
        self.next_seq = 0

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def open(self, recipe_hash: str, recipe: dict[str, Any], allow_change: bool = False) -> DoneSet:
        """Recover torn parts, refuse a changed recipe, and rebuild the done-set from indexes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        previous = self._read_manifest()
        now = time.time()
        if previous is None:
            self.manifest = Manifest(self.name, recipe_hash, recipe, created=now, updated=now)
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
        for path in shards.list_shards(self.directory, self.name):
            index = self._recover(path)
            if index is None:
                continue
            self.shard_count += 1
            self.records += index.records
            self.outcomes.update(index.outcomes)
            for question_id, sample_index, key_hash in index.keys:
                if key_hash == recipe_hash:
                    done.add(question_id, sample_index)
            parsed = shards.parse_name(path.name)
            if parsed and parsed[1] == self.worker:
                self.next_seq = max(self.next_seq, parsed[2] + 1)
        self.write_manifest("running")
        return done

    def _recover(self, path: Path) -> shards.ShardIndex | None:
        if path.name.endswith(shards.PART):
            recovered = shards.recover_part(path)
            return recovered[1] if recovered else None
        return _index(path)

    def _read_manifest(self) -> Manifest | None:
        try:
            return msgspec.json.decode(self.manifest_path.read_bytes(), type=Manifest)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise RecipeChanged(f"{self.manifest_path}: unreadable manifest: {e}") from None

    def add_closed(self, index: shards.ShardIndex) -> None:
        self.shard_count += 1
        self.records += index.records
        self.outcomes.update(index.outcomes)

    def write_manifest(self, state: str, funnel: dict[str, Any] | None = None) -> None:
        """Atomically replace the manifest (write, fsync, rename)."""
        assert self.manifest is not None
        self.manifest = msgspec.structs.replace(
            self.manifest,
            state=state,
            updated=time.time(),
            records=self.records,
            shards=self.shard_count,
            outcomes=dict(self.outcomes),
            funnel=funnel if funnel is not None else self.manifest.funnel,
        )
        tmp = self.manifest_path.with_suffix(".json.tmp")
        with open(tmp, "wb") as f:
            f.write(msgspec.json.format(msgspec.json.encode(self.manifest)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path)
