"""Decontamination against eval benchmarks: word n-gram overlap and fuzzy similarity, indexed."""

from engine.decont.filter import Contamination, Decontaminator, DecontSpec

__all__ = ["Contamination", "DecontSpec", "Decontaminator"]
