"""Training export: an output directory's samples as chat records for fine-tuning.

Every record carries the conversation twice: ShareGPT ``conversations`` (``from``/``value``,
as LLaMA-Factory reads it) and OpenAI ``messages`` (``role``/``content``, as TRL reads it), with
the assistant turn exactly as the teacher wrote it, ``<think>`` block included. Records are
written as zstd JSONL shards into a staging folder that is renamed to the destination when
complete, so an export appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

import msgspec

from engine.answer_filter import AnswerPolicy, Votes
from engine.records import Domain, Manifest, Message, Sample
from engine.specs import OutputSpec
from engine.storage import shards
from engine.storage.outcomes import Outcome
from engine.storage.output import MANIFEST, DoneSet, Stream


class ExportSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """answer_filter: one policy for all domains or one per domain (a domain not listed: none);
    ``passed`` exports passed samples only. keep_truncated: also export completions cut at
    max_tokens (an unfinished trace teaches stopping mid-thought). recipes: ``current`` exports
    only samples made by the manifest's recipe, ``all`` also those of earlier recipes (for a
    (question, sample index) made by both, the first in shard order). Failures never export."""

    answer_filter: AnswerPolicy | dict[Domain, AnswerPolicy] = "none"
    keep_truncated: bool = False
    recipes: Literal["current", "all"] = "current"
    name: str = "train"
    shard_records: int = 100_000
    zstd_level: int = 3

    def policy(self, domain: str) -> AnswerPolicy:
        if isinstance(self.answer_filter, str):
            return self.answer_filter
        return self.answer_filter.get(domain, "none")  # type: ignore[call-overload]


class Turn(msgspec.Struct):
    """A ShareGPT turn: ``from`` is system, human or gpt."""

    from_: str = msgspec.field(name="from")
    value: str


class TrainingRecord(msgspec.Struct):
    """One exported sample. Flat, with every key in every record, so Arrow infers one schema."""

    question_id: str
    sample_index: int
    domain: str
    conversations: list[Turn]
    messages: list[Message]
    verdict: str | None
    answer: str | None
    teacher_model: str
    seed: int
    recipe_hash: str
    finish_reason: str | None
    truncated: bool
    completion_tokens: int


class ExportReport(msgspec.Struct):
    """Counts in and out, overall and per domain, and why records were left out."""

    dest: str
    records_in: int
    records_out: int
    dropped: dict[str, int]
    domains_in: dict[str, int]
    domains_out: dict[str, int]
    shards: list[str]


class ExportError(Exception):
    """The export cannot run or read its input; the message names the file."""


_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}
_encode = msgspec.json.Encoder().encode
_decode_sample = msgspec.json.Decoder(Sample).decode


def training_record(sample: Sample) -> TrainingRecord:
    """The sample's prompt and completion in both chat formats (the completion must be set)."""
    assert sample.completion is not None
    messages = [*sample.messages, Message("assistant", sample.completion)]
    verdict = sample.verdict
    return TrainingRecord(
        question_id=sample.question_id,
        sample_index=sample.sample_index,
        domain=sample.domain,
        conversations=[Turn(_SHAREGPT_ROLE[m.role], m.content) for m in messages],
        messages=messages,
        verdict=verdict.status if verdict else None,
        answer=verdict.answer if verdict else None,
        teacher_model=sample.teacher.model,
        seed=sample.seed,
        recipe_hash=sample.recipe_hash,
        finish_reason=sample.finish_reason,
        truncated=sample.truncated,
        completion_tokens=sample.usage.completion_tokens,
    )


async def export(outdir: Path, dest: Path, spec: ExportSpec) -> ExportReport:
    """Export ``outdir``'s samples to shards in ``dest`` (absent or empty) under ``spec``."""
    manifest = _manifest(outdir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest}: exists and is not an empty directory")
    paths = shards.list_shards(outdir, manifest.name)
    current = manifest.recipe_hash if spec.recipes == "current" else None
    votes = Votes()
    if any(spec.policy(domain) == "majority" for domain in get_args(Domain)):
        for sample in _candidates(paths, spec, current, Counter()):
            votes.add(sample)
    staging = dest.with_name(dest.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)  # left by an export that did not finish
    # a shard rotates at a flush, so flush at least every shard_records
    output = OutputSpec(
        dir=str(staging),
        shard_records=spec.shard_records,
        flush_records=min(1024, spec.shard_records),
        zstd_level=spec.zstd_level,
    )
    writer = Stream(staging, spec.name).writer(output)
    dropped: Counter[str] = Counter()
    domains_in: Counter[str] = Counter()
    domains_out: Counter[str] = Counter()
    for sample in _candidates(paths, spec, current, dropped, domains_in):
        rejection = votes.judge(sample, spec.policy(sample.domain))
        if rejection is not None:
            dropped[f"answer_filter:{rejection.reason}"] += 1
            continue
        record = training_record(sample)
        outcome = Outcome.of_sample(sample.domain, record.verdict, None)
        await writer.write(_encode(record) + b"\n", sample.key, outcome)
        domains_out[sample.domain] += 1
    await writer.close()
    staging.mkdir(parents=True, exist_ok=True)  # an export of nothing is an empty directory
    os.replace(staging, dest)
    return ExportReport(
        dest=str(dest),
        records_in=sum(domains_in.values()),
        records_out=sum(domains_out.values()),
        dropped=dict(dropped),
        domains_in=dict(domains_in),
        domains_out=dict(domains_out),
        shards=[str(dest / path.name) for path, _ in writer.closed_shards],
    )


def _manifest(outdir: Path) -> Manifest:
    path = outdir / MANIFEST
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        raise ExportError(f"{outdir}: not an output directory (no {MANIFEST})") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ExportError(f"{path}: unreadable manifest: {error}") from None


def _candidates(
    paths: list[Path],
    spec: ExportSpec,
    recipe_hash: str | None,
    dropped: Counter[str],
    domains: Counter[str] | None = None,
) -> Iterator[Sample]:
    """Samples with a completion, once per (question, sample index), counting what is left out."""
    seen = DoneSet()
    for sample in _samples(paths):
        if domains is not None:
            domains[sample.domain] += 1
        if recipe_hash is not None and sample.recipe_hash != recipe_hash:
            dropped["earlier_recipe"] += 1
        elif seen.masks.get(sample.question_id, 0) >> sample.sample_index & 1:
            dropped["duplicate"] += 1
        elif sample.failure is not None:
            dropped[f"failed:{sample.failure.kind}"] += 1
        elif sample.truncated and not spec.keep_truncated:
            dropped["truncated"] += 1
        else:
            seen.add(sample.question_id, sample.sample_index)
            yield sample


def _samples(paths: list[Path]) -> Iterator[Sample]:
    for path in paths:
        for number, line in enumerate(shards.iter_lines(path), 1):
            try:
                yield _decode_sample(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                raise ExportError(f"{path}: record {number}: {error}") from None
