"""User-facing errors every layer may raise; the CLI turns each into one line and its exit code."""


class ConfigError(ValueError):
    """A recipe, suite or setting that cannot be used; the message names the file and key."""
