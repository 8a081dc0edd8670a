"""Training launcher: OT3 presets, stock LLaMA-Factory / TRL configs, launch commands."""
