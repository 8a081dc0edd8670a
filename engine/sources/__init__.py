"""Question sources: JSONL (.zst), JSON arrays, Parquet, Hugging Face datasets; fields by config."""

from engine.sources.errors import SourceError
from engine.sources.source import Source

__all__ = ["Source", "SourceError"]
