"""What an export does: format, files, filters and length policy (CLI flags or ``[export]``)."""

from __future__ import annotations

from pathlib import Path

from engine.config import decode
from engine.errors import ConfigError
from engine.specs import ExportSpec, Spec
from engine.tomlfile import read_toml


class ExportError(ConfigError):
    """The export cannot run or read its input; the message names the file."""


def load_export_section(path: Path) -> dict[str, object]:
    """The ``[export]`` table of a TOML file (a recipe or an export config); {} if it has none."""
    section = read_toml(path).get("export", {})
    if not isinstance(section, dict):
        raise ExportError(f"{path}: export: expected a table")
    return section


class _Section(Spec):
    export: ExportSpec


def export_spec(values: dict[str, object], source: str = "<export>") -> ExportSpec:
    """Validate export settings; errors name the source and the key (``export.format: ..``)."""
    return decode({"export": values}, _Section, source).export
