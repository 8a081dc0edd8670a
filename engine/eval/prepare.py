"""A benchmark's questions, frozen into its output directory before any sample is drawn.

``BENCH/questions.jsonl.zst`` holds the Questions the run evaluates (decoded from the published
layout once): the benchmark's Job reads it as its source, and results read it for golds,
options and difficulty groups, so resume and ``eval report`` need neither the hub nor the
original files. ``data_hash`` identifies the data spec it was made from.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgspec
import zstandard

from engine.eval.layouts import benchmark_questions
from engine.eval.suite import BenchmarkSpec
from engine.records import Question
from engine.sources.files import open_binary
from engine.specs import FieldMap, SourceSpec

QUESTIONS = "questions.jsonl.zst"


class Prepared(msgspec.Struct):
    """What was frozen: from which data spec, how many questions, the file's digest."""

    data_hash: str
    questions: int
    digest: str


def data_hash(benchmark: BenchmarkSpec) -> str:
    return hashlib.blake2b(msgspec.json.encode(benchmark.data), digest_size=8).hexdigest()


def questions_path(directory: Path) -> Path:
    return directory / QUESTIONS


def prepare(benchmark: BenchmarkSpec, directory: Path) -> Prepared:
    """Read the benchmark's data and write its questions file atomically (write, rename)."""
    questions = list(benchmark_questions(benchmark))
    if not questions:
        raise ValueError(f"benchmark {benchmark.name!r}: the data holds no questions")
    prefix = f"{benchmark.name}:"
    encoder = msgspec.json.Encoder()
    lines = b"".join(
        encoder.encode(msgspec.structs.replace(q, id=q.id.removeprefix(prefix))) + b"\n"
        for q in questions
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = questions_path(directory)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(zstandard.ZstdCompressor(level=10).compress(lines))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    digest = hashlib.blake2b(lines, digest_size=16).hexdigest()
    return Prepared(data_hash(benchmark), len(questions), digest)


def job_source(benchmark: BenchmarkSpec, directory: Path) -> SourceSpec:
    """The prepared file as the benchmark Job's source (ids get the benchmark name back)."""
    fields = FieldMap(id="id", answer="answer", tests="tests", choices="choices")
    return SourceSpec(
        name=benchmark.name,
        domain=benchmark.domain,
        path=str(questions_path(directory)),
        format="jsonl",
        fields=fields,
    )


def load_questions(benchmark: str, directory: Path) -> list[Question]:
    """The prepared Questions with their full ids (``BENCH:...``, as in the samples)."""
    decoder = msgspec.json.Decoder(Question)
    with open_binary(questions_path(directory)) as stream:
        questions = [decoder.decode(line) for line in stream if line.strip()]
    for question in questions:
        question.id = f"{benchmark}:{question.id}"
    return questions
