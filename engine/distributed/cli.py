"""``run --ray [ADDRESS] --workers N`` (and ``serve``): the driver of a job on Ray, or a
one-line usage error when Ray is not installed or the options do not fit."""

from __future__ import annotations

import argparse

from engine.config import Recipe
from engine.distributed.driver import RayJob
from engine.errors import UsageError

LOCAL = "local"  # --ray without an address: a Ray instance started by the driver


def ray_job(args: argparse.Namespace, recipe: Recipe) -> RayJob:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(
            "--ray needs Ray, which is not installed: pip install 'thoughtmill[ray]'"
        ) from None
    if args.partition is not None:
        raise UsageError("--ray runs every partition itself: give --workers N, not --partition")
    address = None if args.ray == LOCAL else args.ray
    return RayJob(recipe, args.workers or 2, address, args.allow_recipe_change)
