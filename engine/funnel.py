"""The curation funnel: counts per stage, domain and outcome, kept by each stage for itself and
merged by the job for the manifest and the summary."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any


class Funnel:
    """Counts per stage, domain and outcome, e.g. ``("dedup", "math", "exact") -> 12``."""

    def __init__(self) -> None:
        self.counts: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )

    def count(self, stage: str, domain: str, outcome: str, amount: int = 1) -> None:
        self.counts[stage][domain][outcome] += amount

    def as_dict(self) -> dict[str, Any]:
        return {s: {d: dict(o) for d, o in doms.items()} for s, doms in self.counts.items()}

    def table(self) -> str:
        """A readable funnel: one line per stage and outcome, one column per domain."""
        domains = sorted({d for doms in self.counts.values() for d in doms})
        rows = [f"{'stage':<12} {'outcome':<22}" + "".join(f"{d:>10}" for d in domains)]
        for stage, doms in self.counts.items():
            outcomes = sorted({o for counts in doms.values() for o in counts})
            for outcome in outcomes:
                cells = "".join(f"{doms.get(d, {}).get(outcome, 0):>10}" for d in domains)
                rows.append(f"{stage:<12} {outcome:<22}{cells}")
        return "\n".join(rows)

    @classmethod
    def merged(cls, parts: Iterable[Funnel]) -> Funnel:
        total = cls()
        for part in parts:
            for stage, domains in part.counts.items():
                for domain, outcomes in domains.items():
                    for outcome, amount in outcomes.items():
                        total.count(stage, domain, outcome, amount)
        return total
