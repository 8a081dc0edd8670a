"""Exit codes of ``python -m engine``: what each means is part of the user-facing contract."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    OK = 0  # done, or stopped cleanly by SIGINT/SIGTERM (run the same command again to resume)
    FAILED = 1  # the job failed
    USAGE = 2  # bad usage or config; the message names the file and key path
    RECIPE_CHANGED = 3  # the output was made by a recipe with different samples
    OUTPUT_ERROR = 4  # the output cannot be written (e.g. disk full); what was written is kept
    FORCED = 130  # forced stop by a second signal
