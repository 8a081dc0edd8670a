"""User-facing errors every layer may raise; the CLI turns each into one line and its exit code."""


class ConfigError(ValueError):
    """A recipe, suite or setting that cannot be used; the message names the file and key."""


class TeacherUnavailable(Exception):
    """A teacher (or scorer) refuses every request at the start: not reachable, the API key
    refused, the model unknown. The job stops before it writes a sample."""


class UsageError(ValueError):
    """A command that cannot be carried out as given (e.g. a port in use for ``serve``)."""
