"""Code answers: the program extracted from a response (or given directly), run against its
tests in a sandbox."""

from verifiers.code.grade import CodeVerifier, LocalSandboxRefused

__all__ = ["CodeVerifier", "LocalSandboxRefused"]
