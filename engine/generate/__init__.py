"""Answer sampling: prompts, per-sample seeds, teacher calls, truncation policy."""
