"""Isolated program execution: Docker warm pool, local process fallback.

Usage::

    async with open_pool() as pool:            # "auto": Docker where an engine answers
        result = await pool.run(Program("python", "print(input())"), stdin="hi\n")
        batch = await pool.run_batch(Program("cpp", source), inputs)   # compiles once
"""

from sandbox.languages import LANGUAGES, Language, get_language
from sandbox.models import BackendChoice, BatchResult, Limits, Program, RunResult, RunStatus
from sandbox.pool import Pool, open_pool

__all__ = [
    "LANGUAGES",
    "BackendChoice",
    "BatchResult",
    "Language",
    "Limits",
    "Pool",
    "Program",
    "RunResult",
    "RunStatus",
    "get_language",
    "open_pool",
]
