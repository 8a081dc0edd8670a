"""``python -m engine COMMAND``: generate, verify, inspect and export reasoning-training data.

Exit codes (engine.exits.Exit): 0 done (or stopped cleanly by a signal; run again to resume),
1 the job failed, 2 bad usage or config, 3 the output was made by a different recipe, 4 output
not writable (disk full, read-only, permission denied; what was written is kept), 130 forced
stop by a second signal. Every error is one line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from typing import NoReturn

from engine.cli import eval as evaluation
from engine.cli import export, init, job, mock, output, train, view
from engine.errors import ConfigError, TeacherUnavailable, UsageError
from engine.exits import Exit
from engine.sources import SourceError
from engine.storage.lock import OutputLocked
from engine.storage.output import RecipeChanged
from engine.storage.reader import RecordError
from engine.storage.selection import SelectionError
from engine.storage.verify import DamagedShard

DEBUG_HELP = "show tracebacks of errors"
COMMANDS = (init, job, output, export, train, evaluation, view, mock)  # each registers its own

# errors that are the user's to fix (usage, config, data), each to its exit code
_EXPECTED: tuple[tuple[tuple[type[BaseException], ...], Exit], ...] = (
    ((ConfigError, SourceError, UsageError, OutputLocked), Exit.USAGE),
    ((RecipeChanged,), Exit.RECIPE_CHANGED),
    ((TeacherUnavailable, RecordError, SelectionError, DamagedShard), Exit.FAILED),
)
# an OSError with one of these means the output cannot be written (sources and the config wrap
# their own read errors, so these come from writing)
_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}
_OUTPUT_ERRNOS |= {errno.EIO}


class _Parser(argparse.ArgumentParser):
    """Usage errors on one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(Exit.USAGE, f"error: {self.prog}: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog="python -m engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = root.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    for command in sub.choices.values():  # `--debug` after the command name works too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
    return root


def explain(error: BaseException) -> tuple[int, str | None]:
    """The exit code of an error and its one-line message (None: say nothing)."""
    if isinstance(error, BrokenPipeError):  # whoever read stdout stopped: not an error
        job.silence_stdout()
        return Exit.OK, None
    if isinstance(error, KeyboardInterrupt):
        return Exit.FORCED, None
    for kinds, code in _EXPECTED:
        if isinstance(error, kinds):
            return code, str(error)
    if isinstance(error, OSError):
        if error.errno in _OUTPUT_ERRNOS:
            return Exit.OUTPUT_ERROR, f"output: {error}"
        if error.errno == errno.EADDRINUSE:
            return Exit.USAGE, f"{error} (choose another --port)"
        if error.errno == errno.ENOENT and error.filename:  # a path given that is not there
            return Exit.USAGE, f"{error.filename}: {error.strerror}"
        return Exit.FAILED, str(error)
    return Exit.FAILED, f"internal error: {type(error).__name__}: {error} (--debug shows where)"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a closed stdout shows here, not at the interpreter's exit
        return code
    except (Exception, KeyboardInterrupt) as error:
        if args.debug:
            raise
        code, message = explain(error)
        if message is not None:
            lines = [line.strip() for line in message.splitlines() if line.strip()]
            print(f"error: {'; '.join(lines)}", file=sys.stderr)
        return code
