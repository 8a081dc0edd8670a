"""The buckets of an LSH index: band key -> indices of stored texts, compact for millions of texts.

Most entries live in two sorted numpy arrays (12 bytes an entry, where a dict entry with its int
key costs about 100); the newest sit in a dict until there are ``FLUSH_ENTRIES`` of them, and
are then sorted and inserted in one linear pass (``np.insert``; the arrays are copied once).
Lookups into the arrays are vectorized over a whole batch; ``flush`` runs only between batches,
so a batch sees fixed arrays plus the dict, which holds what the batch itself added.
"""

from __future__ import annotations

import numpy as np

FLUSH_ENTRIES = 1 << 20
MAX_BUCKET = 64  # indices read or kept per key: bounds the cost of heavily templated texts


class Buckets:
    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)
        self._values = np.empty(0, dtype=np.int32)
        self._recent: dict[int, int | list[int]] = {}
        self._recent_entries = 0

    def __len__(self) -> int:
        return len(self._keys) + self._recent_entries

    def lookup_sorted(self, keys: np.ndarray) -> list[list[int]]:
        """Per row of ``keys`` (one row of band keys per text), the indices found in the arrays."""
        found: list[list[int]] = [[] for _ in range(len(keys))]
        if not len(self._keys):
            return found
        flat = keys.ravel()
        starts = np.searchsorted(self._keys, flat, side="left")
        ends = np.searchsorted(self._keys, flat, side="right")
        for position in np.flatnonzero(ends > starts).tolist():
            start = int(starts[position])
            stop = min(int(ends[position]), start + MAX_BUCKET)
            found[position // keys.shape[1]] += self._values[start:stop].tolist()
        return found

    def lookup_recent(self, keys: list[int], into: set[int]) -> None:
        """Add to ``into`` the indices the dict holds for ``keys``."""
        for key in keys:
            hit = self._recent.get(key)
            if hit is None:
                continue
            if isinstance(hit, int):
                into.add(hit)
            else:
                into.update(hit)

    def add(self, keys: list[int], index: int) -> None:
        for key in keys:
            hit = self._recent.get(key)
            if hit is None:
                self._recent[key] = index
            elif isinstance(hit, int):
                self._recent[key] = [hit, index]
            elif len(hit) < MAX_BUCKET:
                hit.append(index)
            else:
                continue
            self._recent_entries += 1

    def flush(self, force: bool = False) -> None:
        """Merge the dict into the arrays once it is large (or when ``force``)."""
        if self._recent_entries < FLUSH_ENTRIES and not (force and self._recent_entries):
            return
        keys = np.empty(self._recent_entries, dtype=np.uint64)
        values = np.empty(self._recent_entries, dtype=np.int32)
        position = 0
        for key, hit in self._recent.items():
            for index in (hit,) if isinstance(hit, int) else hit:
                keys[position], values[position] = key, index
                position += 1
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
        at = np.searchsorted(self._keys, keys, side="right")  # after older equal keys
        self._keys = np.insert(self._keys, at, keys)
        self._values = np.insert(self._values, at, values)
        self._recent.clear()
        self._recent_entries = 0
