"""Mixing: interleave sources by weight, up to a quota per domain, deterministically by seed.

OT3 found that one or two high-quality sources per domain beat mixing many, so a recipe usually
lists few sources; weights set each source's share of its domain's quota. Without quotas every
question of every source is read and weights only shape the interleaving order.
The mix is a pure function of (sources, weights, quotas, seed): a resumed run replays it and
skips the questions already done.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from engine.records import Question
from engine.sources import Source
from engine.specs import MixSpec, SourceSpec


class MixInput(Protocol):
    """A stream of one source's questions; ``spec`` gives its name, domain and weight."""

    spec: SourceSpec

    def __iter__(self) -> Iterator[Question]: ...


class Mixer:
    """Iterating yields a weighted random interleave of the inputs, within the domain quotas.

    At each step one live input is drawn with probability proportional to its weight; an input
    leaves the draw when it runs dry or its domain's quota is full. ``taken`` counts the
    questions yielded per source name (for the funnel).
    """

    def __init__(self, spec: MixSpec, inputs: Sequence[MixInput]) -> None:
        self.spec = spec
        self.inputs = inputs
        self.taken: Counter[str] = Counter()

    @classmethod
    def from_specs(cls, spec: MixSpec, sources: Iterable[SourceSpec]) -> Mixer:
        return cls(spec, [Source(source) for source in sources])

    def __iter__(self) -> Iterator[Question]:
        rng = random.Random(self.spec.seed)
        quotas = self.spec.quotas
        per_domain: Counter[str] = Counter()
        self.taken.clear()
        live = [
            (item.spec, iter(item)) for item in self.inputs if quotas.get(item.spec.domain) != 0
        ]
        while live:
            index = rng.choices(range(len(live)), weights=[spec.weight for spec, _ in live])[0]
            spec, stream = live[index]
            question = next(stream, None)
            if question is None:
                del live[index]
                continue
            per_domain[spec.domain] += 1
            self.taken[spec.name] += 1
            if per_domain[spec.domain] == quotas.get(spec.domain):
                live = [(s, it) for s, it in live if s.domain != spec.domain]
            yield question
