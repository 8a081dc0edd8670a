"""Output storage: zstd JSONL shards of independent frames, manifest, resume scan."""
