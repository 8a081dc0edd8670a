"""Near duplicates: MinHash signatures of word shingles, looked up in a verified LSH index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.dedup.lsh import BandIndex, Match
from engine.dedup.minhash import MinHasher


class NearIndex:
    """Kept texts' signatures; ``prepare`` a batch, then ``match``/``add`` its texts in order."""

    def __init__(self, threshold: float, num_perm: int, shingle: int, seed: int) -> None:
        self.hasher = MinHasher(num_perm, shingle, seed)
        self.bands = BandIndex(threshold, num_perm)
        self.ids: list[str] = []  # the kept question id of each stored signature

    def __len__(self) -> int:
        return len(self.ids)

    def prepare(self, texts: Sequence[str]) -> list[tuple[list[int], np.ndarray] | None]:
        """Per text, its band keys and signature; None for a text with no words."""
        signatures, has_words = self.hasher.signatures(texts)
        keys = self.bands.band_keys(signatures)
        return [
            (key, signature) if present else None
            for key, signature, present in zip(keys, signatures, has_words.tolist(), strict=True)
        ]

    def match(self, prepared: tuple[list[int], np.ndarray]) -> tuple[str, float] | None:
        """The kept twin's id and the estimated similarity, if a kept text is near enough."""
        found: Match | None = self.bands.query(*prepared)
        return None if found is None else (self.ids[found.index], found.similarity)

    def add(self, prepared: tuple[list[int], np.ndarray], question_id: str) -> None:
        self.bands.insert(*prepared)
        self.ids.append(question_id)
