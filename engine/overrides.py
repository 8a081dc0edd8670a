"""Command-line overrides of a recipe or suite: ``--set section.key=VALUE`` (repeatable),
applied to the parsed TOML before it is validated, so an override is typed and checked exactly
like the file (and a bad one names its key). VALUE is read as a TOML value (``4``, ``0.7``,
``true``, ``"text"``, ``[1, 2]``, ``{ a = 1 }``); anything that is not valid TOML is a string."""

from __future__ import annotations

from typing import Any

import tomllib

from engine.errors import ConfigError


def parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """``data`` with every ``dotted.key=VALUE`` of ``assignments`` set (sections made as
    needed; a list index such as ``sources.0.limit`` reaches into an array of tables, and
    ``*`` into each of its items, e.g. ``benchmarks.*.data.limit``)."""
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set {assignment}: expected KEY=VALUE, e.g. sampling.n=4")
        _assign(data, parts, parse_value(text.strip()), assignment)
    return data


def _assign(node: Any, parts: list[str], value: Any, assignment: str, depth: int = 0) -> None:
    """Set ``parts[depth:]`` of ``node`` to ``value``."""
    part, path = parts[depth], ".".join(parts[: depth + 1])
    if part == "*" and isinstance(node, list):
        for index in range(len(node)):
            each = [*parts[:depth], str(index), *parts[depth + 1 :]]
            _assign(node, each, value, assignment, depth)
    elif depth < len(parts) - 1:
        _assign(_child(node, part, path, assignment), parts, value, assignment, depth + 1)
    elif isinstance(node, list):
        node[_index(node, part, path, assignment)] = value
    else:
        node[part] = value


def _child(node: Any, part: str, path: str, assignment: str) -> Any:
    """The section (table or array of tables) at ``part`` of ``node``, made when absent."""
    if isinstance(node, list):
        child = node[_index(node, part, path, assignment)]
    else:
        child = node.setdefault(part, {})
    if not isinstance(child, dict | list):
        raise ConfigError(f"--set {assignment}: {path} is not a section")
    return child


def _index(items: list[Any], part: str, path: str, assignment: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ConfigError(f"--set {assignment}: {path}: no item {part} (there are {len(items)})")
    return int(part)
