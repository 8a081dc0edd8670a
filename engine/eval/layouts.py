"""Benchmark rows in their published layouts -> Questions, read with the engine's source readers.

``fields``: any layout by field mapping (recipes' FieldMap). ``gpqa``: Idavidrein/gpqa's
columns; the four options become ``choices`` (the engine shuffles them per sample).
``livecodebench``: livecodebench/code_generation_lite's columns; tests decoded by
engine.eval.lcb, the problem text built from the question, its starter code and a prefix that
depends on the test type, and a reference program kept when the data has one.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from engine.eval.lcb import TestCaseError, question_tests
from engine.eval.suite import (
    BenchmarkSpec,
    FieldsData,
    GpqaData,
    LiveCodeBenchData,
    source_spec,
)
from engine.records import Question, content_id
from engine.sources import Source, SourceError
from engine.sources.fields import FieldError, RowMapper, lookup

GPQA_OPTIONS = ["Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]
DIFFICULTY = "difficulty"  # Question.metadata key of the difficulty group
SOLUTION = "solution"  # Question.metadata key of a reference program (engine.testing.answer_key)


def benchmark_questions(benchmark: BenchmarkSpec) -> Iterator[Question]:
    """The benchmark's Questions in source order; a bad row raises SourceError naming it."""
    source = Source(source_spec(benchmark))
    convert = _converter(benchmark)
    count = 0
    limit = benchmark.data.limit
    for reader in source.readers():
        for where, row in reader:
            if limit is not None and count >= limit:
                return
            try:
                yield convert(row)
            except (FieldError, TestCaseError) as error:
                raise SourceError(f"{reader.origin}, {reader.unit} {where}: {error}") from None
            count += 1


def _converter(benchmark: BenchmarkSpec):
    data = benchmark.data
    if isinstance(data, GpqaData):
        return _Gpqa(benchmark)
    if isinstance(data, LiveCodeBenchData):
        return _LiveCodeBench(benchmark, data)
    assert isinstance(data, FieldsData)
    return _Fields(benchmark, data)


def _row(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise FieldError(f"row must be an object, got {type(row).__name__}")
    return row


def _text(row: dict[str, Any], field: str) -> str:
    value = lookup(row, field)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"field {field!r} must be a non-empty string")
    return value


class _Fields:
    """The recipe sources' field mapping, plus the difficulty field into metadata."""

    def __init__(self, benchmark: BenchmarkSpec, data: FieldsData) -> None:
        self.map = RowMapper(source_spec(benchmark))
        self.difficulty = data.difficulty

    def __call__(self, row: Any) -> Question:
        question = self.map(_row(row))
        if self.difficulty is not None:
            value = lookup(row, self.difficulty)
            if value is not None and not isinstance(value, dict | list):
                question.metadata[DIFFICULTY] = _group(value)
        return question


def _group(value: Any) -> str:
    """A difficulty as a group label: 5.0 -> "5", "Level 3" stays."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Gpqa:
    def __init__(self, benchmark: BenchmarkSpec) -> None:
        self.name = benchmark.name
        self.domain = benchmark.domain

    def __call__(self, row: Any) -> Question:
        row = _row(row)
        problem = _text(row, "Question").strip()
        choices = [_text(row, field).strip() for field in GPQA_OPTIONS]
        if len(set(choices)) != len(choices):
            raise FieldError("two options have the same text")
        return Question(
            id=content_id(self.name, problem),
            domain=self.domain,
            source=self.name,
            problem=problem,
            answer=choices[0],
            choices=choices,
        )


class _LiveCodeBench:
    def __init__(self, benchmark: BenchmarkSpec, data: LiveCodeBenchData) -> None:
        self.name = benchmark.name
        self.domain = benchmark.domain
        self.data = data

    def __call__(self, row: Any) -> Question:
        row = _row(row)
        content = _text(row, "question_content")
        for field in ("public_test_cases", "private_test_cases"):
            if field not in row:
                raise FieldError(f"missing field {field!r}")
        try:
            tests, kind = question_tests(
                row["public_test_cases"], row["private_test_cases"], row.get("metadata")
            )
        except TestCaseError as error:
            raise FieldError(f"test cases: {error}") from None
        prefix = self.data.stdin_prefix if kind == "stdin" else self.data.call_prefix
        starter = row.get("starter_code") or ""
        problem = prefix + content
        if self.data.starter_code and starter.strip():
            problem += (
                "\n\nYou will use the following starter code to write the solution to the "
                f"problem and enclose your code within delimiters.\n```python\n{starter}\n```"
            )
        question_id = row.get("question_id")
        metadata: dict[str, Any] = {"test_type": kind}
        for field in ("platform", "contest_date", "question_title"):
            value = row.get(field)
            if isinstance(value, datetime.date):  # datasets' JSON builder parses the date
                value = value.isoformat()
            if isinstance(value, str):
                metadata[field] = value
        if isinstance(row.get(DIFFICULTY), str):
            metadata[DIFFICULTY] = row[DIFFICULTY]
        solution = row.get(self.data.solution) if self.data.solution else None
        if isinstance(solution, str) and solution.strip():
            metadata[SOLUTION] = solution
        return Question(
            id=f"{self.name}:{question_id}" if question_id else content_id(self.name, content),
            domain=self.domain,
            source=self.name,
            problem=problem,
            tests=tests,
            metadata=metadata,
        )
