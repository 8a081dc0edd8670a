"""Isolated program execution: Docker warm pool, local process fallback."""
