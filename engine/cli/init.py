"""``init``: write a commented starter recipe (and a few questions) that runs as it is."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from engine.errors import ConfigError
from engine.exits import Exit

TEMPLATES = resources.files("engine.templates")


def cmd_init(args: argparse.Namespace) -> int:
    recipe = Path(args.path)
    questions = recipe.with_name(f"{recipe.stem}_questions.jsonl")
    for path in (recipe, questions):
        if path.exists() and not args.force:
            raise ConfigError(f"{path}: exists (pass --force to overwrite)")
    recipe.parent.mkdir(parents=True, exist_ok=True)
    name = recipe.stem.replace("_", "-") or "job"
    text = (
        (TEMPLATES / "recipe.toml")
        .read_text()
        .format(recipe=recipe, name=name, questions=questions, output=f"out/{name}")
    )
    recipe.write_text(text)
    questions.write_text((TEMPLATES / "questions.jsonl").read_text())
    print(f"wrote {recipe} and {questions}; run: python -m engine run --config {recipe}")
    return Exit.OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a commented starter recipe that runs offline as it is")
    p.add_argument("path", nargs="?", default="recipe.toml", help="where (default recipe.toml)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(handler=cmd_init)
