"""Rows of a Hugging Face dataset, streamed with ``datasets.load_dataset(..., streaming=True)``."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

from engine.sources.errors import SourceError


def hf_available() -> bool:
    return importlib.util.find_spec("datasets") is not None


class HfRows:
    """Yields ``(row number, row)``; load failures (offline, unknown name) raise SourceError."""

    unit = "row"

    def __init__(self, name: str, config: str | None, split: str) -> None:
        self.name, self.config, self.split = name, config, split
        self.origin = f"hf:{name}" + (f"/{config}" if config else "") + f"[{split}]"
        self._dataset: Any = None

    def load(self) -> None:
        """Resolve the dataset now, so an unreachable hub fails before any row is read."""
        import datasets

        try:
            self._dataset = datasets.load_dataset(
                self.name, self.config, split=self.split, streaming=True
            )
        except Exception as error:  # the hub client raises many unrelated types
            raise SourceError(f"{self.origin}: cannot load: {error}") from error

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self._dataset is None:
            self.load()
        yield from enumerate(self._dataset, start=1)
