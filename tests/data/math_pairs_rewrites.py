"""Gold answers rewritten the way a model might write them (for real-data tests and the bench).

Sympy prints the rewrites: its LaTeX printer is independent of the verifier's parser, so a
rewrite is a different spelling of the same value (terms reordered, fractions and radicals
re-spelled, unordered lists reversed), plus the exact decimal of a terminating rational.
"""

from __future__ import annotations

import re

import sympy

from verifiers.math.exact import canonical
from verifiers.math.numeric import free_symbols
from verifiers.math.parse import Node, ParseError, parse_answer
from verifiers.math.symbolic import NotSympy, to_sympy

MAX_PRINTED_CHARS = 400


def model_rewrites(gold: str) -> list[str]:
    """Equivalent spellings of a gold answer (always includes the gold's own text)."""
    forms = [gold.strip().strip("$").strip()]
    try:
        tree = parse_answer(gold)
    except ParseError:
        return forms
    for form in (_printed(tree), _decimal(tree)):
        if form is not None and form not in forms and len(form) <= MAX_PRINTED_CHARS:
            forms.append(form)
    return forms


def wrong_rewrite(gold: str) -> str | None:
    """A nearby wrong answer: the gold's value plus one (None when that is not defined)."""
    try:
        tree = parse_answer(gold)
        return sympy.latex(to_sympy(tree) + 1) if tree[0] not in _STRUCTURES else None
    except (ParseError, NotSympy, KeyError, TypeError, ValueError):
        return None


# Names sympy prints back as written: one letter or a Greek letter, with a short subscript.
_PRINTABLE_NAME = re.compile(
    r"(?:[A-Za-z]|alpha|beta|gamma|theta|lambda|mu|omega|rho|tau|sigma)(?:_[A-Za-z0-9]|_\d+)?"
)
_STRUCTURES = ("tuple", "list", "set", "union", "matrix", "eq", "rel", "text", "based")


def _printed(tree: Node) -> str | None:
    """Sympy's LaTeX for the tree; None when sympy would misprint a variable's name."""
    if not all(_PRINTABLE_NAME.fullmatch(name) for name in free_symbols(tree)):
        return None
    try:
        return _latex(tree)
    except (NotSympy, KeyError, TypeError, ValueError):
        return None


def _latex(tree: Node) -> str:
    tag = tree[0]
    if tag == "tuple":
        return tree[1] + ", ".join(map(_latex, tree[3])) + tree[2]
    if tag in ("list", "set"):
        return ", ".join(map(_latex, reversed(tree[1])))
    if tag == "union":
        return r" \cup ".join(map(_latex, tree[1]))
    if tag == "eq":
        return f"{_latex(tree[1])} = {_latex(tree[2])}"
    if tag == "matrix":
        rows = r" \\ ".join(" & ".join(map(_latex, row)) for row in tree[1])
        return rf"\begin{{pmatrix}} {rows} \end{{pmatrix}}"
    if tag == "text":
        return rf"\text{{{tree[1]}}}"
    if tag in ("rel", "based"):
        raise NotSympy(tag)
    if tag == "percent":
        return _latex(tree[1]) + r"\%"
    if tag == "const" and tree[1] == "inf":
        return r"\infty"
    return sympy.latex(to_sympy(tree))


def _decimal(tree: Node) -> str | None:
    """The exact decimal of a terminating rational (0.5 for 1/2, 142.0 for 142)."""
    form = canonical(tree) if tree[0] not in _STRUCTURES else None
    value = form.rational() if form is not None else None
    if value is None:
        return None
    if value.denominator == 1:
        return f"{value.numerator:,}" if abs(value) >= 1000 else f"{value.numerator}.0"
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
        if digits > 30:
            return None
    whole, fraction = divmod(abs(int(value * 10**digits)), 10**digits)
    return f"{'-' if value < 0 else ''}{whole}.{fraction:0{digits}d}"
