"""TOML text or files into dicts; errors name the file (ConfigError, exit 2 at the CLI)."""

from __future__ import annotations

from pathlib import Path

import tomllib

from engine.errors import ConfigError


def parse_toml(text: str, name: str) -> dict[str, object]:
    """``text`` (read from ``name``) as a dict; a syntax error or runaway nesting names it."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{name}: {error}") from None
    except RecursionError:
        raise ConfigError(f"{name}: values nested too deeply") from None


def read_toml(path: Path) -> dict[str, object]:
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
    return parse_toml(text, str(path))
