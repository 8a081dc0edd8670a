"""Code answers: the program extracted from a response, run against its tests in a sandbox."""

from verifiers.code.grade import CodeVerifier

__all__ = ["CodeVerifier"]
