"""Math answers: extraction, normalisation, exact and numeric fast paths, sympy in killable
workers. ``verify`` checks one response against a gold; ``MathVerifierPool`` is its asyncio form."""

from verifiers.math.grade import MathVerifierPool, clear_caches, verify

__all__ = ["MathVerifierPool", "clear_caches", "verify"]
