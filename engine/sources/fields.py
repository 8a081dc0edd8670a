"""Turn one source row into a Question, following the source's FieldMap."""

from __future__ import annotations

import json
from typing import Any

from engine.records import Question, content_id
from engine.specs import SourceSpec

_MISSING = object()
MAX_DEPTH = 64  # nesting kept in a Question (tests, metadata): far below the recursion limit


class FieldError(ValueError):
    """A row does not fit the field mapping; the caller adds the file and line."""


def lookup(row: dict[str, Any], path: str) -> Any:
    """The value at ``path`` ("a.b.0" walks objects and lists), or _MISSING."""
    if path in row:
        return row[path]
    value: Any = row
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _nested_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects at most ``limit`` deep (walked without
    recursion, so a hostile row cannot exhaust the stack here or when it is written)."""
    level = [value]
    for _ in range(limit + 1):
        level = [
            item
            for node in level
            if isinstance(node, dict | list)
            for item in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return True
    return False


def _shallow(value: Any, field: str) -> Any:
    if not _nested_within(value, MAX_DEPTH):
        raise FieldError(f"field {field!r} nests deeper than {MAX_DEPTH} levels")
    return value


def _scalar_text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(f"field {field!r} must be a string or number, got {type(value).__name__}")
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _answer(value: Any, field: str) -> str | None:
    """Gold answers as text: numbers formatted (5.0 -> "5"), a list joined with ", "."""
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(_scalar_text(item, field) for item in value)
    return _scalar_text(value, field)


def _tests(value: Any, field: str) -> Any:
    """Tests as given; a string holding a JSON array or object (common on the hub) is decoded."""
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise FieldError(f"field {field!r} holds invalid JSON: {error}") from None
        except RecursionError:
            raise FieldError(f"field {field!r} holds JSON nested too deeply") from None
    return _shallow(value, field)


def question_id(source: str, value: Any, field: str) -> str:
    """``source:ID`` with the id normalized, so that rows agree on what one id is: a string as
    it is (not empty), a number in canonical form (``1``, ``1.0`` and ``"1"`` are one id; ``1.5``
    stays ``1.5``); booleans, lists, objects and empty strings are refused."""
    text = _scalar_text(value, field)
    if not text:
        raise FieldError(f"field {field!r} is an empty id")
    return f"{source}:{text}"


class RowMapper:
    """Maps rows of one source onto Questions (domain, source name and tags from the spec)."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.fields = spec.fields

    def _required(self, row: dict[str, Any], field: str) -> Any:
        value = lookup(row, field)
        if value is _MISSING or value is None:
            raise FieldError(f"missing field {field!r}")
        return value

    def _optional(self, row: dict[str, Any], field: str | None) -> Any:
        value = _MISSING if field is None else lookup(row, field)
        return None if value is _MISSING else value

    def _choices(self, row: dict[str, Any]) -> list[str] | None:
        names = self.fields.choices
        if isinstance(names, list):
            return [_scalar_text(self._required(row, name), name) for name in names]
        value = self._optional(row, names)
        if value is None:
            return None
        if not isinstance(value, list):
            raise FieldError(f"field {names!r} must be a list, got {type(value).__name__}")
        return [_scalar_text(item, names) for item in value]

    def __call__(self, row: Any) -> Question:
        if not isinstance(row, dict):
            raise FieldError(f"row must be an object, got {type(row).__name__}")
        fields, name = self.fields, self.spec.name
        problem = self._required(row, fields.problem)
        if not isinstance(problem, str) or not problem.strip():
            raise FieldError(f"field {fields.problem!r} must be a non-empty string")
        if fields.id is None:
            id_ = content_id(name, problem)
        else:
            id_ = question_id(name, self._required(row, fields.id), fields.id)
        metadata = {}
        for field in fields.metadata:
            value = lookup(row, field)
            if value is not _MISSING:
                metadata[field] = _shallow(value, field)
        return Question(
            id=id_,
            domain=self.spec.domain,
            source=name,
            problem=problem,
            answer=_answer(self._optional(row, fields.answer), fields.answer or ""),
            tests=_tests(self._optional(row, fields.tests), fields.tests or ""),
            choices=self._choices(row),
            tags=list(self.spec.tags),
            metadata=metadata,
        )
