"""Near duplicates: MinHash signatures of word shingles, looked up in a verified LSH index."""

from __future__ import annotations

from collections.abc import Sequence

from engine.dedup.lsh import BandIndex, Probe
from engine.dedup.minhash import MinHasher


class NearIndex:
    """Kept texts' signatures; ``prepare`` a batch, then ``match``/``add`` its texts in order."""

    def __init__(self, threshold: float, num_perm: int, shingle: int, seed: int) -> None:
        self.hasher = MinHasher(num_perm, shingle, seed)
        self.bands = BandIndex(threshold, num_perm)
        self.ids: list[str] = []  # the kept question id of each stored signature

    def __len__(self) -> int:
        return len(self.ids)

    def prepare(self, texts: Sequence[str]) -> list[Probe | None]:
        """Per text, what ``match`` and ``add`` need; None for a text with no words."""
        signatures, has_words = self.hasher.signatures(texts)
        probes = iter(self.bands.probe(signatures[has_words]))
        return [next(probes) if present else None for present in has_words.tolist()]

    def match(self, probe: Probe) -> tuple[str, float] | None:
        """The kept twin's id and the estimated similarity, if a kept text is near enough."""
        found = self.bands.query(probe)
        return None if found is None else (self.ids[found.index], found.similarity)

    def add(self, probe: Probe, question_id: str) -> None:
        self.bands.insert(probe)
        self.ids.append(question_id)
