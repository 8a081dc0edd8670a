"""Question sources: JSONL (.zst), JSON arrays, Parquet, Hugging Face datasets; fields by config."""

from engine.sources.source import Source
from engine.sources.spec import FieldMap, SourceError, SourceSpec

__all__ = ["FieldMap", "Source", "SourceError", "SourceSpec"]
