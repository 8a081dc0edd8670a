"""An index over benchmark problems: exact word n-grams, and word trigrams for fuzzy candidates.

A question is tested against the index, never pairwise against every benchmark item: its n-grams
are looked up in hash sets, and only the few benchmark items sharing the most trigrams with it
are scored with rapidfuzz.

Probing: a shared n-gram (n tokens) contains ``stride`` consecutive m-grams, m = n - stride + 1,
so one of them starts at a multiple of ``stride`` in the question. Looking up only those strided
m-grams in the set of all benchmark m-grams finds every question that shares an n-gram, with
``stride`` times fewer lookups; the few questions that hit are then checked n-gram by n-gram.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import NamedTuple

from rapidfuzz import fuzz

from engine.decont.text import joined, ngrams, strided

TRIGRAM = 3
FUZZY_CANDIDATES = 5  # benchmark items scored per question: those sharing the most trigrams
MAX_POSTINGS = 64  # trigrams in more items than this ("find the value") do not pick candidates


class BenchmarkItem(NamedTuple):
    benchmark: str
    id: str
    problem: str
    text: str  # normalized: the problem's word tokens joined by spaces


class OverlapMatch(NamedTuple):
    item: BenchmarkItem
    shared: int  # distinct n-grams the question shares with the item
    gram: str  # the first shared n-gram


class FuzzyMatch(NamedTuple):
    item: BenchmarkItem
    score: float  # rapidfuzz ratio, 0-100


class BenchmarkIndex:
    """Add benchmark items with ``add``, then query with ``overlap`` and ``nearest``."""

    def __init__(self, ngram: int) -> None:
        self.ngram = ngram
        self.stride = max(1, ngram // 3)
        self.items: list[BenchmarkItem] = []
        self._ngrams: dict[tuple[bytes, ...], int] = {}
        self._probes: set[tuple[bytes, ...]] = set()
        self._trigrams: defaultdict[tuple[bytes, ...], list[int]] = defaultdict(list)

    def add(self, benchmark: str, item_id: str, problem: str, tokens: list[bytes]) -> None:
        index = len(self.items)
        self.items.append(BenchmarkItem(benchmark, item_id, problem, joined(tokens)))
        for gram in ngrams(tokens, self.ngram):
            self._ngrams.setdefault(gram, index)
        if len(tokens) >= self.ngram:
            self._probes.update(ngrams(tokens, self.ngram - self.stride + 1))
        for gram in set(ngrams(tokens, TRIGRAM)):
            self._trigrams[gram].append(index)

    def overlap(self, tokens: list[bytes]) -> OverlapMatch | None:
        """The benchmark item sharing the most n-grams with ``tokens``, if any shares one."""
        if len(tokens) < self.ngram:
            index = self._ngrams.get(tuple(tokens))
            if index is None:
                return None
            return OverlapMatch(self.items[index], 1, joined(tokens))
        if self._probes.isdisjoint(strided(tokens, self.ngram - self.stride + 1, self.stride)):
            return None
        grams = list(ngrams(tokens, self.ngram))
        shared = {gram: self._ngrams[gram] for gram in grams if gram in self._ngrams}
        if not shared:
            return None
        index, count = Counter(shared.values()).most_common(1)[0]
        first = next(gram for gram, item in shared.items() if item == index)
        return OverlapMatch(self.items[index], count, joined(first))

    def nearest(self, tokens: list[bytes], threshold: float) -> FuzzyMatch | None:
        """The most similar candidate whose fuzzy ratio to ``tokens`` reaches ``threshold``."""
        hits = self._trigrams.keys() & set(ngrams(tokens, TRIGRAM))
        if not hits:
            return None
        counts: Counter[int] = Counter()
        for gram in hits:
            if len(postings := self._trigrams[gram]) <= MAX_POSTINGS:
                counts.update(postings)
        text, best = joined(tokens), None
        for index, _ in counts.most_common(FUZZY_CANDIDATES):
            item = self.items[index]
            score = fuzz.ratio(text, item.text, score_cutoff=threshold)
            if score and (best is None or score > best.score):
                best = FuzzyMatch(item, score)
        return best
