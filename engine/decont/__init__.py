"""Decontamination against eval benchmarks: word n-gram overlap and fuzzy similarity, indexed."""

from engine.decont.filter import Decontaminator

__all__ = ["Decontaminator"]
