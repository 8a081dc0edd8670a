"""The event loop every command runs on: uvloop when installed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to its result, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coroutine)
    uvloop.install()  # pragma: no cover
    return asyncio.run(coroutine)
