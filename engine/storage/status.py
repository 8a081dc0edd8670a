"""What ``status OUTDIR`` says of an output: its state, the total when known, and counts per
stream, domain, verdict and failure reason, from the manifest, the lock and the shard indexes
alone (no lock taken: it runs beside a job)."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import msgspec

from engine.errors import ConfigError
from engine.records import JobState, Manifest, ModelUsage
from engine.storage import shards
from engine.storage.lock import WHOLE, Holder, read_holder
from engine.storage.outcomes import Outcome
from engine.storage.reader import Summary, summarize
from sandbox.docker import process_exists

FAILED = "failed:"


class Status(msgspec.Struct):
    """An output as ``status`` reports it (text and ``--json`` alike).

    state: ``running`` while a live process holds the output's lock; else the manifest's end
    state, ``interrupted`` for a run that ended without finishing (stopped, or killed while
    its manifest still said running). samples_total: questions read less those excluded,
    times ``sampling.n``; an upper bound while curation still runs, None when the questions
    were not counted (hub sources without a limit). domains, verdicts and failures count the
    samples stream as readers see it (a retried failure counts once, as its last attempt)."""

    directory: str
    name: str | None
    state: JobState
    holder: str | None  # who writes the output, while running
    questions_total: int | None
    samples_total: int | None
    samples: int
    domains: dict[str, int]
    verdicts: dict[str, int]  # verdict status (or "unverified") of samples with a completion
    failures: dict[str, int]  # Failure.kind of samples without one
    usage: dict[str, ModelUsage]  # tokens and cost by model, as of the last run's end
    streams: dict[str, Summary]


def _live_holder(directory: Path) -> Holder | None:
    """The process holding the output (or a partition of it), if it is alive; a holder on
    another host (a shared file system) is taken as alive: its pid cannot be checked here."""
    for path in [directory / WHOLE, *sorted(directory.glob(f"{WHOLE}-*"))]:
        holder = read_holder(path)
        if holder and (holder.host != socket.gethostname() or process_exists(holder.pid)):
            return holder
    return None


def _manifest(directory: Path) -> Manifest | None:
    path = directory / shards.MANIFEST
    try:
        return msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        return None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ConfigError(f"{path}: unreadable manifest: {error}") from None


def _state(manifest: Manifest | None, holder: Holder | None) -> JobState:
    if holder is not None:
        return "running"
    if manifest is None or manifest.state in ("running", "interrupted"):
        return "interrupted"
    return manifest.state


def output_status(directory: Path) -> Status:
    """The status of the output ``directory``; a missing, empty or foreign directory (no
    manifest, shards or live writer of ours) is a ConfigError naming it."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such output directory")
    if not any(directory.iterdir()):
        raise ConfigError(f"{directory}: empty directory, not an output (no run wrote it yet)")
    manifest, holder = _manifest(directory), _live_holder(directory)
    streams = summarize(directory)
    if manifest is None and holder is None and not streams:
        raise ConfigError(
            f"{directory}: not a ThoughtMill output (no {shards.MANIFEST} and no shards)"
        )
    name = manifest.name if manifest else None
    samples = streams.get(name) if name else None
    outcomes = Counter(samples.outcomes if samples else {})
    domains: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for text, count in outcomes.items():
        outcome = Outcome.parse(text)
        domains[outcome.domain] += count
        if outcome.label.startswith(FAILED):
            failures[outcome.label.removeprefix(FAILED)] += count
        else:
            verdicts[outcome.label] += count
    questions = manifest.questions_total if manifest else None
    samples_total = None
    if manifest is not None and questions is not None:
        excluded = streams.get(f"{name}_excluded")
        kept = questions - (excluded.questions if excluded else 0)
        samples_total = max(kept, 0) * manifest.recipe["sampling"]["n"]
    return Status(
        directory=str(directory),
        name=name,
        state=_state(manifest, holder),
        holder=str(holder) if holder else None,
        questions_total=questions,
        samples_total=samples_total,
        samples=samples.records if samples else 0,
        domains=dict(domains),
        verdicts=dict(verdicts),
        failures=dict(failures),
        usage=manifest.usage if manifest else {},
        streams=streams,
    )
