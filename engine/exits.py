"""Exit codes of ``python -m engine``: what each means is part of the user-facing contract."""

from __future__ import annotations

import enum

from engine.metrics import Metrics


class Exit(enum.IntEnum):
    OK = 0  # done, or stopped cleanly by SIGINT/SIGTERM (run the same command again to resume)
    FAILED = 1  # the job failed
    USAGE = 2  # bad usage or config; the message names the file and key path
    RECIPE_CHANGED = 3  # the output was made by a recipe with different samples
    OUTPUT_ERROR = 4  # the output cannot be written (e.g. disk full); what was written is kept
    FORCED = 130  # forced stop by a second signal


def run_failure(metrics: Metrics, max_share: float) -> str | None:
    """Why a run failed (exit 1), or None: all the samples it wrote are failures, or more than
    ``max_share`` of them (the teacher's failures, and ``infra_error``: samples verification
    could not judge)."""
    written = metrics.samples_written
    kinds = {**metrics.failures, "infra_error": metrics.verdicts.get("infra_error", 0)}
    failed = sum(kinds.values())
    if not written or not failed or (failed < written and failed <= max_share * written):
        return None
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()) if count)
    if failed >= written:
        return f"all {written} samples written this run failed ({counts})"
    return (
        f"{failed} of {written} samples written this run failed ({counts}): "
        f"{failed / written:.1%}, more than limits.max_failed_share = {max_share}"
    )
