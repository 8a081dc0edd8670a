"""``python -m engine COMMAND``: generate, verify, inspect and export reasoning-training data.

Exit codes (engine.exits.Exit): 0 done (or stopped cleanly by a signal; run again to resume),
1 the job failed, 2 bad usage or config, 3 the output was made by a different recipe, 4 output
not writable (e.g. disk full; what was written is kept), 130 forced stop by a second signal.
"""

from __future__ import annotations

import argparse
import logging
import sys

from engine.cli import eval as evaluation
from engine.cli import export, init, job, mock, output, train, view
from engine.errors import ConfigError
from engine.exits import Exit
from engine.sources import SourceError
from engine.storage.output import RecipeChanged

COMMANDS = (init, job, output, export, train, evaluation, view, mock)  # each registers its own


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, SourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.USAGE
    except RecipeChanged as error:
        print(f"error: {error}", file=sys.stderr)
        return Exit.RECIPE_CHANGED
    except OSError as error:
        print(f"error: output: {error}", file=sys.stderr)
        return Exit.OUTPUT_ERROR
