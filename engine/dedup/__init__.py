"""Dedup: exact (normalized text hash) and near-duplicate (MinHash LSH), streaming."""

from engine.dedup.filter import Dedup

__all__ = ["Dedup"]
