"""ThoughtMill engine: recipe config, streaming pipeline, teacher backends, shards, CLI."""
