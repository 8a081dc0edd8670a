"""``mock-teacher``: the project's OpenAI-compatible mock server, for tests and demos.

Its option flags are made from MockOptions' fields (engine.testing.options), one flag a field,
with the field's description as help, so a setting is declared once. ``--parent-pipe`` is the
hand-off a parent process uses (engine.testing.process): the options arrive whole as one JSON
line on stdin, and the server exits when stdin closes, that is when its parent dies.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import signal
import sys

import msgspec

from engine.cli.loop import run
from engine.config import ConfigError
from engine.exits import Exit
from engine.testing.options import MockOptions


def cmd_mock_teacher(args: argparse.Namespace) -> int:
    from engine.testing.answer_key import AnswerKeyError
    from engine.testing.mock_teacher import MockTeacher, bound_port, serve
    from engine.testing.process import die_with_parent

    given = {name: value for name, value in vars(args).items() if name in _FIELDS}
    if args.parent_pipe:
        if given:
            raise ConfigError("--parent-pipe takes the options from stdin; give no option flags")
        die_with_parent()
        options = _decode(sys.stdin.buffer.readline(), "stdin")
    else:
        options = _decode(given, "flags")
    try:
        teacher = MockTeacher(options)
    except AnswerKeyError as problem:
        raise ConfigError(str(problem)) from None

    async def main() -> int:
        runner = await serve(teacher, args.host, args.port)
        print(f"mock teacher on http://{args.host}:{bound_port(runner)}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.parent_pipe:
            loop.add_reader(sys.stdin.fileno(), _watch_parent, stop)
        await stop.wait()
        await runner.cleanup()
        return Exit.OK

    return run(main())


def _watch_parent(stop: asyncio.Event) -> None:
    if not os.read(sys.stdin.fileno(), 4096):  # EOF: the parent's end of the pipe is closed
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        stop.set()


def _decode(source: bytes | dict, where: str) -> MockOptions:
    """Options from the hand-off's JSON or the flags' strings; errors name the flag or key."""
    try:
        if isinstance(source, bytes):
            return msgspec.json.decode(source, type=MockOptions)
        return msgspec.convert(source, MockOptions, strict=False)
    except msgspec.DecodeError as problem:
        message = str(problem)
        if where == "flags":
            message = re.sub(r"`\$\.(\w+)", lambda m: f"`--{m.group(1).replace('_', '-')}", message)
        raise ConfigError(f"mock-teacher options ({where}): {message}") from None


_FIELDS = {field.name for field in msgspec.structs.fields(MockOptions)}


def _flag(group: argparse._ArgumentGroup, field: msgspec.inspect.Field) -> None:
    """One flag for one MockOptions field, typed by the field (msgspec converts the strings)."""
    kind, help_text = field.type, ""
    if isinstance(kind, msgspec.inspect.Metadata):
        help_text = (kind.extra_json_schema or {}).get("description", "")
        kind = kind.type
    name = "--" + field.name.replace("_", "-")
    default = field.default
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    common = dict(dest=field.name, default=argparse.SUPPRESS, help=f"{help_text} [{default}]")
    if isinstance(kind, msgspec.inspect.BoolType):
        group.add_argument(name, action=argparse.BooleanOptionalAction, **common)
    elif isinstance(kind, msgspec.inspect.LiteralType):
        group.add_argument(name, choices=kind.values, **common)
    elif isinstance(kind, msgspec.inspect.TupleType):
        width = len(kind.item_types)
        group.add_argument(
            name, type=functools.partial(_items, width=width), metavar="LO-HI", **common
        )
    elif isinstance(kind, msgspec.inspect.VarTupleType):
        group.add_argument(name, type=_items, metavar="A,B,..", **common)
    else:
        group.add_argument(name, **common)


def _items(text: str, width: int | None = None) -> list[str]:
    """``2-16``, ``2,16`` or ``a,b,c`` as a list; with ``width``, one value stands for all."""
    items = [item.strip() for item in re.split(r",|(?<=\d)-(?=\d)", text) if item.strip()]
    return items * width if width and len(items) == 1 else items


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mock-teacher",
        help="OpenAI-compatible mock server for tests and demos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument(
        "--parent-pipe",
        action="store_true",
        help="read the options as one JSON line on stdin; exit when stdin closes",
    )
    group = p.add_argument_group("mock options (the fields of engine.testing.options.MockOptions)")
    for field in msgspec.inspect.type_info(MockOptions).fields:
        _flag(group, field)
    p.set_defaults(handler=cmd_mock_teacher)
