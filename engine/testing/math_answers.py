"""Math answers as a model writes them: equivalent rewrites of a gold, and near misses.

A gold is read as one shape: a number (integer, decimal, fraction), a radical, a multiple of pi,
a quantity with a unit, text, an interval or union of intervals, a tuple or list, a matrix, an
equation, or a sum of terms. Each shape has its rewrites (``3/4``, ``0.75``, ``\\dfrac{3}{4}``;
``\\sqrt{12}`` for ``2\\sqrt{3}``; terms reordered; ``bmatrix`` for ``pmatrix``...) and its near
misses (off by one, sign flip, reciprocal, swapped tuple, wrong endpoint, another word...).
A gold of no known shape is rewritten only by spacing and missed by bumping its first number.

Every rewrite is one the project's math verifier (``verifiers.math.verify``) accepts and every
near miss one it rejects; tests/engine/testing/test_math_answers.py checks both over shipped
golds of every shape and, when present, all of MATH-500. Forms today's verifier rejects stay out
(a repeating decimal such as ``0.333`` for ``\\frac{1}{3}`` is one).
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction

_SIGN = r"(-?)"
_INT = re.compile(r"(-?)(\d+)")
_THOUSANDS = re.compile(r"(-?)(\d{1,3}(?:(?:,|,\\!|\{,\})\s?\d{3})+)")
_DECIMAL = re.compile(r"(-?)(\d*)\.(\d+)")
_FRAC = re.compile(r"(-?)\\[dt]?frac\s*(?:\{(-?\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))")
_SLASH = re.compile(r"(-?)(\d+)/(\d+)")
_RADICAL = re.compile(r"(-?)(\d*)\s*\\sqrt\s*(?:\{(\d+)\}|(\d))")
_PI = re.compile(r"(-?)(\d*)\s*\\pi")
_PI_OVER = re.compile(r"(-?)\\[dt]?frac\{(\d*)\s*\\pi\}\{(\d+)\}")
_UNIT = re.compile(
    r"(.+?)\s*(\^\\circ|\^\{\\circ\}|\\%|\\(?:text|mbox)\{\s*[A-Za-z ]+\}(?:\^[23])?)"
)
_DOLLARS = re.compile(r"\\\$\s*(.+)")
_TEXT = re.compile(r"\\text(?:bf)?\{\s*([A-Za-z][A-Za-z ]*?)\s*\}")
_LETTER = re.compile(r"\\text\{\(([A-E])\)\}")
_MATRIX = re.compile(r"\\begin\{([pb]matrix)\}(.*)\\end\{\1\}", re.DOTALL)
_NUMBER_IN = re.compile(r"\d+")
_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TEXT_MISSES = {"even": "odd", "odd": "even", "yes": "no", "no": "yes", "east": "west"}


def rewrite(gold: str, choice: float) -> str:
    """An answer equivalent to ``gold``; ``choice`` in [0, 1) picks among its rewrites."""
    forms = _forms(gold.strip())[0]
    return forms[int(choice * len(forms))]


def near_miss(gold: str, choice: float) -> str:
    """A plausible answer the verifier rejects for ``gold``; ``choice`` picks one."""
    forms = _forms(gold.strip())[1]
    return forms[int(choice * len(forms))]


@functools.lru_cache(maxsize=8192)
def _forms(gold: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(rewrites, near misses) of a gold, by its shape."""
    for shape in _SHAPES:
        found = shape(gold)
        if found is not None:
            rewrites, misses = found
            break
    else:
        rewrites, misses = [], [_bump_first_number(gold)]
    rewrites = [gold, *(r for r in rewrites if r != gold)]
    compact = _compact(gold)
    if compact not in rewrites:
        rewrites.append(compact)
    return tuple(rewrites), tuple(dict.fromkeys(m for m in misses if m != gold))


def _compact(text: str) -> str:
    """Spaces dropped wherever they separate nothing (kept between two letters)."""
    return re.sub(r"(?<![A-Za-z])\s+|\s+(?![A-Za-z])", "", text)


# -- numbers


def number(text: str) -> Fraction | None:
    """The value of an integer, decimal or fraction written as LaTeX or ``a/b``; else None."""
    text = text.strip()
    if m := _INT.fullmatch(text):
        return Fraction(int(m.group(2))) * (-1 if m.group(1) else 1)
    if m := _THOUSANDS.fullmatch(text):
        return Fraction(int(re.sub(r"\D", "", m.group(2)))) * (-1 if m.group(1) else 1)
    if m := _DECIMAL.fullmatch(text):
        return Fraction(f"{m.group(1)}{m.group(2) or 0}.{m.group(3)}")
    if m := _FRAC.fullmatch(text):
        top, bottom = int(m.group(2) or m.group(3)), int(m.group(4) or m.group(5))
        if bottom:
            return Fraction(top, bottom) * (-1 if m.group(1) else 1)
    if (m := _SLASH.fullmatch(text)) and int(m.group(3)):
        return Fraction(int(m.group(2)), int(m.group(3))) * (-1 if m.group(1) else 1)
    return None


def _decimal(value: Fraction) -> str | None:
    """The exact decimal of ``value`` when it terminates within 8 places."""
    for places in range(1, 9):
        scaled = value * 10**places
        if scaled.denominator == 1:
            sign = "-" if value < 0 else ""
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            return f"{sign}{digits[:-places]}.{digits[-places:]}"
    return None


def _latex(value: Fraction, style: str = "frac") -> str:
    """``value`` in one style: frac, dfrac, slash or decimal (integers stay integers)."""
    if value.denominator == 1:
        return str(value.numerator)
    sign, top, bottom = "-" if value < 0 else "", abs(value.numerator), value.denominator
    if style == "decimal" and (decimal := _decimal(value)) is not None:
        return decimal
    if style == "slash":
        return f"{sign}{top}/{bottom}"
    command = "dfrac" if style == "dfrac" else "frac"
    return f"{sign}\\{command}{{{top}}}{{{bottom}}}"


def _number_rewrites(value: Fraction) -> list[str]:
    if value.denominator == 1:
        n = value.numerator
        forms = [str(n), f"{n}.0"]
        if abs(n) >= 1000:
            forms.append(f"{n:,}".replace(",", "{,}"))
        return forms
    forms = [_latex(value, style) for style in ("frac", "dfrac", "slash")]
    if (decimal := _decimal(value)) is not None:
        forms.append(decimal)
    return forms


def _number_misses(value: Fraction, style: str) -> list[str]:
    misses = [value + 1, value - 1]
    if value:
        misses.append(-value)
    if value.denominator != 1:
        misses.append(1 / value)
    return [_latex(miss, style) for miss in misses]


def _style(text: str) -> str:
    if "." in text:
        return "decimal"
    return "slash" if "/" in text else "frac"


def _number_shape(gold: str):
    value = number(gold)
    if value is None:
        return None
    misses = _number_misses(value, _style(gold))
    if m := _DECIMAL.fullmatch(gold):  # a last-digit slip, kept at the gold's precision
        slip = value + Fraction(1, 10 ** len(m.group(3)))
        misses.insert(0, _decimal(slip) or _latex(slip))
    return _number_rewrites(value), misses


# -- radicals, pi, units, text


def _radical_shape(gold: str):
    m = _RADICAL.fullmatch(gold)
    if m is None:
        return None
    sign, a, b = m.group(1), int(m.group(2) or 1), int(m.group(3) or m.group(4))
    coefficient = str(a) if a != 1 else ""
    rewrites = [
        f"{sign}{coefficient}\\sqrt{{{b}}}",
        f"{sign}{a} \\cdot \\sqrt{{{b}}}",
        f"{sign}{coefficient}{b}^{{1/2}}" if a == 1 else f"{sign}{a} \\cdot {b}^{{1/2}}",
    ]
    if a > 1:
        rewrites.append(f"{sign}\\sqrt{{{a * a * b}}}")
    flipped = "" if sign else "-"
    misses = [
        f"{sign}{a + 1}\\sqrt{{{b}}}",
        f"{sign}{coefficient}\\sqrt{{{b + 1}}}",
        f"{flipped}{coefficient}\\sqrt{{{b}}}",
    ]
    return rewrites, misses


def _pi_shape(gold: str):
    if m := _PI.fullmatch(gold):
        sign, a = m.group(1), int(m.group(2) or 1)
        coefficient = str(a) if a != 1 else ""
        rewrites = [f"{sign}{coefficient}\\pi", f"{sign}\\pi \\cdot {a}", f"{sign}{a} \\pi"]
        return rewrites, [f"{sign}{a + 1}\\pi", f"{'' if sign else '-'}{coefficient}\\pi"]
    if m := _PI_OVER.fullmatch(gold):
        sign, a, d = m.group(1), m.group(2), int(m.group(3))
        rewrites = [f"{sign}{a}\\pi/{d}", f"{sign}\\frac{{{a or 1}}}{{{d}}}\\pi"]
        return rewrites, [
            f"{sign}\\frac{{{a}\\pi}}{{{d + 1}}}",
            f"{sign}\\frac{{{a}\\pi}}{{{d}}}+1",
        ]
    return None


def _unit_shape(gold: str):
    if m := _DOLLARS.fullmatch(gold):
        amount, unit = m.group(1), None
    elif m := _UNIT.fullmatch(gold):
        amount, unit = m.group(1), m.group(2)
    else:
        return None
    value = number(amount)
    if value is None:
        return None
    if unit is None:
        rewrites = [f"\\${_latex(value, 'decimal')}", _latex(value, "decimal")]
        return rewrites, [f"\\${miss}" for miss in _number_misses(value, "decimal")]
    rewrites = [f"{amount}{unit}", f"{amount} {unit}", _latex(value, _style(amount))]
    if unit.startswith("\\text"):
        rewrites.append(f"{amount}\\mbox{unit[5:]}")
    elif "circ" in unit:
        rewrites.append(f"{amount}°")
    return rewrites, [f"{miss}{unit}" for miss in _number_misses(value, _style(amount))]


def _text_shape(gold: str):
    if m := _LETTER.fullmatch(gold):
        letter = m.group(1)
        other = "ABCDE"[("ABCDE".index(letter) + 1) % 5]
        return [letter, f"({letter})", f"\\textbf{{({letter})}}"], [f"\\text{{({other})}}"]
    m = _TEXT.fullmatch(gold)
    if m is None:
        return None
    word = m.group(1)
    if word.lower() in _TEXT_MISSES:
        miss = _TEXT_MISSES[word.lower()]
    elif word in _WORDS:
        miss = _WORDS[(_WORDS.index(word) + 1) % len(_WORDS)]
    else:
        miss = "Morgan" if word.lower() != "morgan" else "Taylor"
    rewrites = [f"\\text{{{word}}}", f"\\textbf{{{word}}}", f"\\text{{{word.lower()}}}"]
    return rewrites, [f"\\text{{{miss}}}"]


# -- intervals, tuples, lists, matrices


def _split_top(text: str, separator: str = ",") -> list[str]:
    """``text`` split at separators outside (), [], {} (unbalanced closers count as depth 0)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


_INTERVAL = re.compile(r"(?:\\left)?\s*([\[(])(.*)(?:\\right)?\s*([\])])")


def _intervals(gold: str) -> list[tuple[str, str, str, str]] | None:
    """(open, low, high, close) of each interval of a union, or None when ``gold`` is not one."""
    pieces = []
    for piece in re.split(r"\s*\\cup\s*", gold):
        m = _INTERVAL.fullmatch(piece.strip())
        if m is None:
            return None
        inner = re.sub(r"\\right\s*$", "", m.group(2)).strip()
        parts = _split_top(inner)
        if len(parts) != 2 or not all(parts):
            return None
        pieces.append((m.group(1), parts[0], parts[1], m.group(3)))
    return pieces


def _interval_text(pieces, spaced: bool = True, left_right: bool = False) -> str:
    comma = ", " if spaced else ","
    cup = " \\cup " if spaced else "\\cup"
    if left_right:
        return cup.join(f"\\left{o} {a}{comma}{b} \\right{c}" for o, a, b, c in pieces)
    return cup.join(f"{o}{a}{comma}{b}{c}" for o, a, b, c in pieces)


def _interval_shape(gold: str):
    pieces = _intervals(gold)
    if pieces is None:
        return None
    is_interval = len(pieces) > 1 or any(
        "[" in o + c or "]" in o + c or "infty" in a + b for o, a, b, c in pieces
    )
    if not is_interval:
        return None  # (a, b): read as a tuple
    rewrites = [_interval_text(pieces), _interval_text(pieces, False)]
    rewrites.append(_interval_text(pieces, left_right=True))
    misses = []
    *first, (o, a, b, c) = pieces
    if "infty" not in b:
        misses.append(_interval_text([*first, (o, a, b, "]" if c == ")" else ")")]))
    if "infty" not in a:
        misses.append(_interval_text([*first, ("[" if o == "(" else "(", a, b, c)]))
    if not misses:
        misses.append(_interval_text([*first, ("[", "0", b, c)]))
    return rewrites, misses


def _tuple_shape(gold: str):
    m = re.fullmatch(r"\\left\s*\((.*)\\right\s*\)|\((.*)\)", gold, re.DOTALL)
    inner = (m.group(1) or m.group(2)) if m else gold
    items = _split_top(inner)
    if len(items) < 2 or not all(items) or (m is None and number(gold) is not None):
        return None
    if m is None and any(item.startswith(("(", "[")) for item in items):
        return None
    open_, close = ("(", ")") if m else ("", "")

    def text(values: list[str], spaced: bool = True) -> str:
        return open_ + (", " if spaced else ",").join(values) + close

    rewrites = [text(items), text(items, False), text([_rewrite_item(i) for i in items])]
    if m:
        rewrites.append("\\left( " + ", ".join(items) + " \\right)")
    if not m:  # a bare list of solutions: the verifier reads it as a set, so order is free
        rewrites.append(text(items[::-1]))
    misses = []
    for i in range(len(items) - 1 if m else 0):
        if _distinct(items[i], items[i + 1]):
            swapped = [*items[:i], items[i + 1], items[i], *items[i + 2 :]]
            misses.append(text(swapped))
            break
    misses.append(text([*items[:-1], _miss_item(items[-1])]))
    return rewrites, misses


def _matrix_shape(gold: str):
    m = _MATRIX.fullmatch(gold)
    if m is None:
        return None
    rows = [[entry.strip() for entry in row.split("&")] for row in m.group(2).split("\\\\")]
    rows = [row for row in rows if any(row)]

    def text(environment: str, entries: list[list[str]]) -> str:
        body = " \\\\ ".join(" & ".join(row) for row in entries)
        return f"\\begin{{{environment}}} {body} \\end{{{environment}}}"

    other = "bmatrix" if m.group(1) == "pmatrix" else "pmatrix"
    rewritten = [[_rewrite_item(entry) for entry in row] for row in rows]
    rewrites = [text(m.group(1), rows), text(other, rows), text(m.group(1), rewritten)]
    missed = [row[:] for row in rows]
    missed[-1][-1] = _miss_item(missed[-1][-1])
    return rewrites, [text(m.group(1), missed)]


def _rewrite_item(item: str) -> str:
    """An element of a tuple or matrix in another form: decimals as fractions and back."""
    value = number(item)
    if value is None or value.denominator == 1:
        return item
    decimal = _decimal(value)
    return decimal if decimal is not None and "." not in item else _latex(value, "frac")


def _miss_item(item: str) -> str:
    value = number(item)
    return _latex(value + 1, _style(item)) if value is not None else _bump_first_number(item)


def _distinct(a: str, b: str) -> bool:
    va, vb = number(a), number(b)
    return va != vb if va is not None and vb is not None else _compact(a) != _compact(b)


# -- equations and sums of terms


def _terms(expression: str) -> list[str] | None:
    """Signed top-level terms (``-x^2``, ``+3``) of a sum of at least two terms, else None."""
    terms, depth, start = [], 0, 0
    for index, char in enumerate(expression):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char in "+-" and depth == 0 and index > 0:
            before = expression[:index].rstrip()
            if before and before[-1] not in "^_=(,":
                terms.append(expression[start:index].strip())
                start = index
    terms.append(expression[start:].strip())
    if len(terms) < 2 or not all(terms) or depth != 0:
        return None
    return [term if term[0] in "+-" else f"+{term}" for term in terms]


def _join_terms(terms: list[str]) -> str:
    first, *rest = terms
    text = first[1:].strip() if first[0] == "+" else f"-{first[1:].strip()}"
    return text + "".join(f" {term[0]} {term[1:].strip()}" for term in rest)


def _sum_shape(gold: str):
    if re.search(r"\\pm|[=,]", gold):
        return None
    terms = _terms(gold)
    if terms is None:
        return None
    flipped = terms[-1].replace("+", "-", 1) if terms[-1][0] == "+" else "+" + terms[-1][1:]
    rewrites = [_join_terms(terms[::-1]), _join_terms(terms[1:] + terms[:1])]
    return rewrites, [_join_terms([*terms[:-1], flipped]), _bump_first_number(gold)]


def _equation_shape(gold: str):
    sides = gold.split("=")
    if len(sides) != 2 or not all(s.strip() for s in sides) or "," in gold:
        return None
    left, right = (side.strip() for side in sides)
    inner = _sum_shape(right)
    rewrites = [f"{right} = {left}", *(f"{left} = {r}" for r in (inner[0] if inner else []))]
    return rewrites, [f"{left} = {m}" for m in (inner[1] if inner else [_miss_item(right)])]


def _bump_first_number(text: str) -> str:
    """The gold with its first integer one larger (``+ 1`` appended when it has none)."""
    m = _NUMBER_IN.search(text)
    if m is None:
        return f"{text} + 1"
    return f"{text[: m.start()]}{int(m.group()) + 1}{text[m.end() :]}"


_SHAPES = (
    _number_shape,
    _radical_shape,
    _pi_shape,
    _unit_shape,
    _text_shape,
    _matrix_shape,
    _interval_shape,
    _tuple_shape,
    _equation_shape,
    _sum_shape,
)
