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

from engine.records import Failure, JobState, Manifest
from engine.specs import OutputSpec
from engine.storage import shards, verified
from engine.storage.lock import OutputLock
from engine.storage.outcomes import Scope
from engine.storage.reader import Shard, counts, read_stream
from engine.storage.verify import Check, recover_part, salvage

T = TypeVar("T")

MANIFEST = shards.MANIFEST


class RecipeChanged(Exception):
    """The output was made by a recipe whose samples differ from this one."""


class DoneSet:
    """Which (question, sample index) pairs exist: complete questions as ordinal ranges, the
    rest as one int bitmask of sample indices per question; and the pairs to make again (a
    retryable failure, a lost record) with their failed attempts."""

    def __init__(self) -> None:
        self.again: dict[str, dict[int, list[Failure]]] = {}
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

    def redo(self, question_id: str, index: int, history: list[Failure]) -> None:
        self.again.setdefault(question_id, {})[index] = history

    def missing(self, question_id: str, n: int, ordinal: int | None = None) -> list[int]:
        again = self.again.get(question_id, {})
        if ordinal is not None:
            at = bisect.bisect_right(self._starts, ordinal) - 1
            if at >= 0 and ordinal < self._ends[at]:
                return sorted(i for i in again if i < n)
        mask = self.masks.get(question_id, 0)
        return [i for i in range(n) if not mask >> i & 1 or i in again]

    def history(self, question_id: str) -> dict[int, list[Failure]]:
        """The failed attempts of each sample of the question made again."""
        return self.again.get(question_id, {})


class Stream:
    """One family of shards, ``NAME-{worker}-{seq}.jsonl.zst``, in an output directory."""

    def __init__(self, directory: Path, name: str, worker: int = 0, remember: bool = False):
        self.directory = directory
        self.name = name
        self.worker = worker
        self.remember = remember  # note the shards it seals in the verified cache
        self.next_seq = 0
        self.shards: list[Shard] = []  # recovered at start, then each one sealed by this run

    def recover(self) -> list[Shard]:
        """Every shard of this stream, indexed and checked: torn ``.part`` files sealed at
        their last complete frame, closed shards read whole unless the verified cache knows
        them, and damaged ones salvaged (quarantined; their readable records kept in place and
        the lost ones listed to be made again)."""
        known = verified.load(self.directory)
        self.shards = []
        for path in shards.list_shards(self.directory, self.name):
            if path.name.endswith(shards.PART):
                recovered = recover_part(path)
                if recovered is None:
                    continue
                self.shards.append(Shard(*recovered))
            else:
                self.shards.append(self._checked(path, known))
            parsed = shards.parse_name(path.name)
            if parsed and parsed[1] == self.worker:
                self.next_seq = max(self.next_seq, parsed[2] + 1)
        return self.shards

    def _checked(self, path: Path, known: verified.Known) -> Shard:
        if verified.fresh(known, path) and (index := shards.read_index(path)) is not None:
            return Shard(path, index)
        check = Check.of(path)
        for _ in check.pieces():
            pass
        if check.damage is None and check.index is not None:
            verified.remember(path)
            return Shard(path, check.index)
        final, index = salvage(Check.of(path))
        verified.remember(final)
        return Shard(final, index)

    def writer(
        self,
        spec: OutputSpec,
        scope: Scope | None = None,
        is_open: Callable[[str], bool] | None = None,
    ) -> shards.ShardWriter:
        on_seal = verified.remember if self.remember else None
        scope_ = scope.encode() if scope else ""
        return shards.ShardWriter(spec, self._next_path, scope_, is_open, on_seal)

    def _next_path(self) -> Path:
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        return self.directory / shards.shard_name(self.name, self.worker, seq)

    def read(self, kind: type[T]) -> Iterator[T]:
        """Every record of this stream, decoded as ``kind``."""
        return read_stream(self.directory, self.name, kind)

    def known_ids(self) -> set[str]:
        """Question ids already written to a question-keyed stream (recovering torn parts)."""
        return {key[0] for shard in self.recover() for key in shard.index.keys}

    def add_closed(self, path: Path, index: shards.ShardIndex) -> None:
        self.shards.append(Shard(path, index))

    @property
    def shard_count(self) -> int:
        return len(self.shards)

    @property
    def records(self) -> int:
        """Records as readers see them (superseded attempts not counted)."""
        return counts(self.shards)[0]

    @property
    def outcomes(self) -> Counter[str]:
        return counts(self.shards)[1]


class OutputDir:
    """An output directory of one job: the manifest and the samples stream."""

    def __init__(self, directory: Path, name: str, worker: int = 0):
        self.directory = directory
        self.samples = Stream(directory, name, worker, remember=True)
        self.manifest: Manifest | None = None

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def lock(self) -> OutputLock:
        """The writer's lock of this output, held by a run from start to finish."""
        return OutputLock(self.directory)

    def stream(self, suffix: str) -> Stream:
        """Another family of shards of this job, e.g. ``excluded`` or ``scored``."""
        name = f"{self.samples.name}_{suffix}"
        return Stream(self.directory, name, self.samples.worker, remember=True)

    def open(self, recipe: dict[str, Any], recipe_hash: str, allow_change: bool = False) -> None:
        """Refuse a changed recipe, seal torn parts and read every samples shard's index."""
        self.directory.mkdir(parents=True, exist_ok=True)
        previous = self._read_manifest()
        now = time.time()
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
        self.samples.recover()
        verified.compact(self.directory, verified.load(self.directory))
        self.write_manifest("running")

    def done_set(self, scope: Scope, retry_failed: bool = True) -> DoneSet:
        """Which pairs the output holds, for sampling the stream ``scope`` names: from the
        complete ranges and open keys of shards sealed in this scope, else (another stream,
        older shards, recovered parts) from every key. Pairs whose last record is a retryable
        failure are asked again when ``retry_failed``; lost ones (quarantined) always."""
        done = DoneSet()
        found = self.samples.shards
        sound = scope.trusts_ranges and not any(shard.index.lost_unknown for shard in found)
        trusted = scope.encode() if sound else None
        again: dict[shards.Key, list[Failure]] = {}
        for shard in found:
            index = shard.index
            if index.scope == trusted:
                done.add_complete(index.complete, scope.n)
                keys = index.open_keys
            else:
                keys = index.keys
            for question_id, sample_index, key_hash in keys:
                if key_hash == scope.recipe_hash:
                    done.add(question_id, sample_index)
            for key in index.retried:
                again.pop(key, None)
            for entry in index.retry:
                again[entry.key] = entry.history
        for (question_id, sample_index, key_hash), history in again.items():
            if key_hash == scope.recipe_hash and (retry_failed or history[-1].kind == "lost"):
                done.redo(question_id, sample_index, history)
        return done

    def _read_manifest(self) -> Manifest | None:
        try:
            return msgspec.json.decode(self.manifest_path.read_bytes(), type=Manifest)
        except FileNotFoundError:
            return None
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise RecipeChanged(f"{self.manifest_path}: unreadable manifest: {e}") from None

    def write_manifest(
        self, state: JobState, funnel: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """Atomically replace the manifest (write, fsync, rename); ``fields``: other Manifest
        fields to set (e.g. ``questions_total``), the rest kept."""
        assert self.manifest is not None
        self.manifest = msgspec.structs.replace(
            self.manifest,
            **fields,
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
