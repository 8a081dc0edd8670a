"""The error every reader raises for a source it cannot read."""


class SourceError(ValueError):
    """A source cannot be read; the message names the file or dataset, line or row, and field."""
