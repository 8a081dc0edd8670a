"""Files `python -m engine init` writes."""
