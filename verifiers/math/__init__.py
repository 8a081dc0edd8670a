"""Math answers: extraction, normalisation, exact and numeric fast paths and sympy, all in
killable worker processes under one time budget per check. ``verify`` checks one response
against a gold; ``MathVerifierPool`` is its asyncio form; ``verifiers.math.grade.grade`` is the
bare check, in the calling process and without a time limit."""

from verifiers.math.pool import MathVerifierPool, clear_caches, verify

__all__ = ["MathVerifierPool", "clear_caches", "verify"]
