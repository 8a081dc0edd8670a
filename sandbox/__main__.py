"""``python -m sandbox build-image`` and ``python -m sandbox doctor``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sandbox.docker import DEFAULT_IMAGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-image", help="build the sandbox image if it is missing")
    build.add_argument("--image", default=DEFAULT_IMAGE)
    build.add_argument("--method", choices=["auto", "dockerfile", "offline"], default="auto")
    build.add_argument("--force", action="store_true", help="build even if up to date")
    doctor = commands.add_parser("doctor", help="check Docker, the image and every limit")
    doctor.add_argument("--image", default=DEFAULT_IMAGE)
    args = parser.parse_args(argv)

    if args.command == "build-image":
        from sandbox.image import ImageBuildError, build_image

        try:
            build_image(args.image, args.method, args.force)
        except ImageBuildError as error:
            print(f"build-image: {error}", file=sys.stderr)
            return 1
        return 0
    from sandbox.doctor import doctor as run_doctor

    return asyncio.run(run_doctor(args.image))


if __name__ == "__main__":
    sys.exit(main())
