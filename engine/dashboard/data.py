"""Read-only views of an output directory for the dashboard: counts, funnel, length histograms,
pages of records filtered by domain, verdict and source, and one record with its gold answer.

Everything is read from the shards and the manifest alone (a running job's writer is never
touched). Shards whose index holds no record of the wanted domain and verdict are skipped
without being decompressed.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec

from engine.records import Manifest, Sample
from engine.sources import Source, SourceError
from engine.specs import SourceSpec
from engine.storage import shards
from engine.storage.outcomes import Outcome
from engine.storage.output import MANIFEST, summarize
from engine.storage.reader import read_records

# Completion-token buckets of the length histograms (upper edges; the last is open-ended).
LENGTH_EDGES = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class RecordSummary(msgspec.Struct):
    """One row of the record browser."""

    question_id: str
    sample_index: int
    domain: str
    source: str
    outcome: str
    answer: str | None
    completion_tokens: int
    finish_reason: str | None


class RecordPage(msgspec.Struct):
    records: list[RecordSummary]
    offset: int
    more: bool


class RecordDetail(msgspec.Struct):
    """A sample with what a reader needs to judge it: its gold and its question's source."""

    sample: Sample
    source: str
    gold: str | None
    thinking: str | None
    final: str | None


def source_of(question_id: str) -> str:
    """Question ids are ``SOURCE:ID`` (engine.sources prefixes every id with its source name)."""
    return question_id.partition(":")[0]


def split_thinking(text: str | None) -> tuple[str | None, str | None]:
    """``(thinking, final answer)`` of a completion; an unterminated ``<think>`` is all thinking."""
    if text is None:
        return None, None
    start = text.find("<think>")
    if start < 0:
        return None, text
    end = text.find("</think>", start)
    if end < 0:
        return text[start + len("<think>") :], None
    return text[start + len("<think>") : end], text[end + len("</think>") :]


class OutputView:
    """An output directory as the dashboard shows it."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._golds: dict[str, str] | None = None
        self._golds_lock = threading.Lock()

    def manifest(self) -> Manifest | None:
        try:
            return msgspec.json.decode((self.directory / MANIFEST).read_bytes(), type=Manifest)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    @property
    def name(self) -> str:
        manifest = self.manifest()
        return manifest.name if manifest is not None else ""

    def summary(self) -> dict[str, object]:
        """Counts per stream and outcome, the manifest's state and funnel."""
        manifest = self.manifest()
        streams = summarize(self.directory)
        return {
            "name": manifest.name if manifest else None,
            "state": manifest.state if manifest else None,
            "records": manifest.records if manifest else None,
            "funnel": manifest.funnel if manifest else {},
            "streams": {name: msgspec.to_builtins(s) for name, s in streams.items()},
        }

    def lengths(self) -> dict[str, list[int]]:
        """Per domain, how many completions fall in each LENGTH_EDGES bucket (tokens)."""
        histograms: dict[str, list[int]] = {}
        for sample in self._samples(None, None):
            if sample.completion is None:
                continue
            bucket = next(
                (
                    i
                    for i, edge in enumerate(LENGTH_EDGES)
                    if sample.usage.completion_tokens <= edge
                ),
                len(LENGTH_EDGES),
            )
            histograms.setdefault(sample.domain, [0] * (len(LENGTH_EDGES) + 1))[bucket] += 1
        return histograms

    def failures(self) -> dict[str, int]:
        """Failed samples by failure kind, from the shard indexes."""
        counts: Counter[str] = Counter()
        for summary in summarize(self.directory).values():
            for text, count in summary.outcomes.items():
                label = Outcome.parse(text).label
                if label.startswith("failed:"):
                    counts[label.removeprefix("failed:")] += count
        return dict(counts)

    def records(
        self,
        domain: str | None = None,
        outcome: str | None = None,
        source: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> RecordPage:
        """A page of samples matching every filter given (outcome: a verdict status,
        ``failed:<kind>`` or ``unverified``)."""
        rows: list[RecordSummary] = []
        skipped = 0
        for sample in self._samples(domain, outcome):
            row = _summary(sample)
            if domain is not None and row.domain != domain:
                continue
            if source is not None and row.source != source:
                continue
            if outcome is not None and row.outcome != outcome:
                continue
            if skipped < offset:
                skipped += 1
                continue
            if len(rows) == limit:
                return RecordPage(rows, offset, more=True)
            rows.append(row)
        return RecordPage(rows, offset, more=False)

    def record(self, question_id: str, sample_index: int) -> RecordDetail | None:
        found = None
        for sample in self._samples(None, None):
            if sample.question_id == question_id and sample.sample_index == sample_index:
                found = sample  # the last record of a key is the one that counts
        if found is None:
            return None
        thinking, final = split_thinking(found.completion)
        return RecordDetail(found, source_of(question_id), self.gold(question_id), thinking, final)

    def gold(self, question_id: str) -> str | None:
        """The gold answer of a question, from the recipe's sources (read once, on first use)."""
        with self._golds_lock:
            if self._golds is None:
                self._golds = self._read_golds()
        return self._golds.get(question_id)

    def _read_golds(self) -> dict[str, str]:
        manifest = self.manifest()
        golds: dict[str, str] = {}
        if manifest is None:
            return golds
        for raw in manifest.recipe.get("sources", []):
            try:
                spec = msgspec.convert(raw, SourceSpec)
                for question in Source(spec):
                    if question.answer is not None:
                        golds[question.id] = question.answer
            except (msgspec.ValidationError, SourceError, OSError):
                continue  # a source moved or changed since the run: no gold shown for it
        return golds

    def _samples(self, domain: str | None, outcome: str | None) -> Iterator[Sample]:
        """Samples of the samples stream, skipping shards that cannot hold a match."""
        for path in shards.list_shards(self.directory, self.name):
            index = None if path.name.endswith(shards.PART) else shards.read_index(path)
            if index is not None and not _may_match(index.outcomes, domain, outcome):
                continue
            try:
                yield from read_records([path], Sample)
            except FileNotFoundError:  # a .part sealed (renamed) while we listed
                yield from read_records(
                    [path.with_name(path.name.removesuffix(shards.PART))], Sample
                )


def _may_match(outcomes: dict[str, int], domain: str | None, outcome: str | None) -> bool:
    for text in outcomes:
        parsed = Outcome.parse(text)
        if (domain is None or parsed.domain == domain) and (
            outcome is None or parsed.label == outcome
        ):
            return True
    return False


def _summary(sample: Sample) -> RecordSummary:
    verdict, failure = sample.verdict, sample.failure
    outcome = Outcome.of_sample(
        sample.domain, verdict.status if verdict else None, failure.kind if failure else None
    )
    return RecordSummary(
        question_id=sample.question_id,
        sample_index=sample.sample_index,
        domain=sample.domain,
        source=source_of(sample.question_id),
        outcome=outcome.label,
        answer=verdict.answer if verdict else None,
        completion_tokens=sample.usage.completion_tokens,
        finish_reason=sample.finish_reason,
    )
