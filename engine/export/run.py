"""Export an output directory's samples as a training data set in one of the stock formats.

The destination gets ``data/`` (the data files), ``export.json`` (this export's report: counts
in and out per domain and reason, the length histogram, what was dropped or cut, how to load
it) and, per format, the files its trainer needs: ``dataset_info.json`` and ``train.yaml``
(plus a DeepSpeed config) for LLaMA-Factory, ``sft.yaml`` for TRL. Everything is written into a
staging folder renamed to the destination when complete: an export appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import get_args

import msgspec

from engine.answer_filter import Votes
from engine.export import formats
from engine.export.lengths import LengthPolicy, LengthReport
from engine.export.spec import ExportError, ExportSpec
from engine.records import Domain, Manifest, Message, Sample
from engine.specs import ExportFormat
from engine.storage import shards
from engine.storage.output import MANIFEST, DoneSet
from engine.storage.reader import RecordError, read_records
from engine.tokenizer import TokenizerUnavailable, token_counter
from engine.train import configs
from engine.train.presets import PresetError, Topology, TrainPreset, load_preset

DATA = "data"
REPORT = "export.json"
BATCH = 256  # traces measured per tokenizer call


class ExportReport(msgspec.Struct):
    """What an export read and wrote, and what it left out and why."""

    dest: str
    format: ExportFormat
    records_in: int
    records_out: int
    dropped: dict[str, int]
    domains_in: dict[str, int]
    domains_out: dict[str, int]
    lengths: LengthReport
    data_files: list[str]
    load: str  # the datasets call that reads the data files as they are
    configs: list[str]  # the trainer's files written beside the data


def export(outdir: Path, dest: Path, spec: ExportSpec) -> ExportReport:
    """Export ``outdir``'s samples to ``dest`` (absent or empty) under ``spec``."""
    manifest = _manifest(outdir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest}: exists and is not an empty directory")
    preset = _preset(spec)
    try:
        counter = token_counter(spec.tokenizer or preset.model, required=bool(spec.tokenizer))
    except TokenizerUnavailable as error:
        raise ExportError(f"--tokenizer: {error}") from None
    policy = LengthPolicy(counter, spec.cutoff_len or preset.cutoff_len, spec.over_cutoff)
    paths = shards.list_shards(outdir, manifest.name)
    current = manifest.recipe_hash if spec.recipes == "current" else None
    votes = Votes()
    if any(spec.policy(domain) == "majority" for domain in get_args(Domain)):
        for sample in _candidates(paths, spec, current, Counter()):
            votes.add(sample)
    staging = dest.with_name(dest.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)  # left by an export that did not finish
    writer = formats.DataWriter(
        staging / DATA, spec.name, spec.files, formats.schema(spec.format), spec.shard_records
    )
    dropped: Counter[str] = Counter()
    domains_in: Counter[str] = Counter()
    domains_out: Counter[str] = Counter()
    kept = (
        sample
        for sample in _candidates(paths, spec, current, dropped, domains_in)
        if _judge(votes, sample, spec, dropped)
    )
    while batch := list(islice(kept, BATCH)):
        conversations = [[*s.messages, Message("assistant", s.completion or "")] for s in batch]
        rows = []
        for sample, outcome in zip(
            batch, policy.apply([s.domain for s in batch], conversations), strict=True
        ):
            if outcome is None:
                dropped["over_cutoff"] += 1
                continue
            messages, tokens, cut = outcome
            rows.append(formats.row(spec.format, sample, messages, tokens, cut))
            domains_out[sample.domain] += 1
        writer.write(rows)
    writer.close()
    staging.mkdir(parents=True, exist_ok=True)  # an export of nothing has no data files
    final = dest.resolve()
    written = _trainer_files(staging, final, spec, preset)
    report = ExportReport(
        dest=str(dest),
        format=spec.format,
        records_in=sum(domains_in.values()),
        records_out=sum(domains_out.values()),
        dropped=dict(dropped),
        domains_in=dict(domains_in),
        domains_out=dict(domains_out),
        lengths=policy.report(),
        data_files=[str(dest / DATA / path.name) for path in writer.paths],
        load=f'datasets.load_dataset("{spec.files}", data_dir="{final / DATA}", split="train")',
        configs=[str(dest / name) for name in written],
    )
    (staging / REPORT).write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")
    os.replace(staging, dest)  # onto an absent or empty folder
    return report


def _preset(spec: ExportSpec) -> TrainPreset:
    """The preset, checked against the topology of the training config before any work."""
    try:
        preset = load_preset(spec.preset)
        Topology(spec.nodes, spec.gpus_per_node).accumulation(preset)
    except PresetError as error:
        raise ExportError(f"preset {spec.preset}: {error}") from None
    return preset


def _trainer_files(staging: Path, final: Path, spec: ExportSpec, preset: TrainPreset) -> list[str]:
    """The configs the format's trainer reads, pointing at the data's final place."""
    topology = Topology(spec.nodes, spec.gpus_per_node)
    output_dir = f"saves/{Path(spec.preset).stem}"
    files: dict[str, str] = {}
    if spec.format == "llamafactory":
        deepspeed = None
        if preset.deepspeed != "none" and topology.gpus_per_node:
            files["deepspeed.json"] = configs.json_text(configs.deepspeed_config(preset))
            deepspeed = str(final / "deepspeed.json")
        files["dataset_info.json"] = configs.json_text(configs.dataset_info(DATA))
        args = configs.llamafactory_args(preset, topology, str(final), output_dir, None, deepspeed)
        files["train.yaml"] = configs.yaml_text(args)
    elif spec.format == "trl":
        args = configs.trl_args(preset, topology, str(final / DATA), output_dir)
        files["sft.yaml"] = configs.yaml_text(args)
    for name, text in files.items():
        (staging / name).write_text(text)
    return list(files)


def _judge(votes: Votes, sample: Sample, spec: ExportSpec, dropped: Counter[str]) -> bool:
    rejection = votes.judge(sample, spec.policy(sample.domain))
    if rejection is not None:
        dropped[f"answer_filter:{rejection.reason}"] += 1
    return rejection is None


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
    try:
        yield from read_records(paths, Sample)
    except RecordError as error:
        raise ExportError(str(error)) from None
