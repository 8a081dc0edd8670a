"""Dedup: exact (normalized text hash) and near-duplicate (MinHash LSH), streaming."""

from engine.dedup.filter import Dedup, DedupSpec, Duplicate

__all__ = ["Dedup", "DedupSpec", "Duplicate"]
