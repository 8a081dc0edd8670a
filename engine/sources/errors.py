"""The error every reader raises for a source it cannot read, and the mark of one bad row."""

from __future__ import annotations

from typing import NamedTuple


class SourceError(ValueError):
    """A source cannot be read; the message names the file or dataset, line or row, and field."""


class Unreadable(NamedTuple):
    """Yielded by a reader in place of a row it cannot decode; the source applies its
    ``on_bad_row`` policy (a reader that raised would end its file)."""

    detail: str
