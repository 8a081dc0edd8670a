"""Compare a response's answer with the gold's: structure here, scalars by a judge.

Results are three-valued: True (proved equal), False (proved different) or None (this judge
cannot tell). ``Judge`` never imports sympy: exact canonical forms prove equality, exact
rationals and high-precision numeric evaluation prove difference. The worker's judge adds
sympy (see verifiers.math.symbolic) for what is left.

Order rules: tuples, intervals, ratios and matrices are ordered; sets, bare lists ("3, 5",
"3 or 5", ``\\pm``) and unions are not. A bare list may stand for a tuple written without
brackets. Two equations match when one is a nonzero multiple of the other. An equation matches
a gold that is not one by its right side when its left side names the answer (``x = 5``,
``(a,b) = (4,1)``, ``PQ = 6``, ``|PQ| = 2``, ``S_1:S_2 = 5:13``, ``m + n = 17``), is a
computation without variables (``2+3+4 = 9``) or the right side is a structure
(``A + B = \\begin{pmatrix}...``); an equation in one variable (``2x = 10``, ``x + 1 = 5``)
never matches its right side. A ratio ``a:b`` is the same ratio as ``ka:kb`` and as ``a/b``.

Decimal commas: ``3,75`` is 3.75 only when the gold is one number and the comma is followed by
one, two, or more than three digits; with exactly three (``2,310``) it separates thousands,
and against a gold with several items it separates them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from fractions import Fraction

from verifiers.math import numeric as math_numeric
from verifiers.math.exact import canonical
from verifiers.math.normalize import normalize, text_key
from verifiers.math.numeric import Outcome
from verifiers.math.parse import Node, ParseError, parse_answer

Result = bool | None

METHOD_RANK = {"string": 0, "exact": 1, "numeric": 2, "sympy": 3}
_ORDERED = ("tuple", "matrix")
_STRUCTURES = ("tuple", "matrix", "set", "union", "list")
_UNORDERED = ("list", "set", "union")
_STRUCTURAL = ("text", "based", "rel")
_HUNDRED: Node = ("num", Fraction(100))


class Judge:
    """Answers scalar questions and remembers the strongest method it needed."""

    def __init__(self) -> None:
        self.method = "string"

    def note(self, method: str) -> None:
        if METHOD_RANK[method] > METHOD_RANK[self.method]:
            self.method = method

    def equal(self, a: Node, b: Node) -> Result:
        result, _ = self.fast_equal(a, b)
        return result

    def proportional(self, a: Node, b: Node) -> Result:
        result, _ = self.fast_proportional(a, b)
        return result

    def fast_equal(self, a: Node, b: Node) -> tuple[Result, Outcome | None]:
        """Exact proofs first, then numeric refutation; the numeric outcome comes along."""
        if a == b:
            self.note("exact")
            return True, None
        if a[0] == b[0] == "num":  # two plain numbers: the common case, settled at once
            self.note("exact")
            return a[1] == b[1], None
        form_a, form_b = canonical(a), canonical(b)
        if form_a is not None and form_b is not None:
            if form_a.equals(form_b):
                self.note("exact")
                return True, None
            if form_a.rational() is not None and form_b.rational() is not None:
                self.note("exact")
                return False, None
        return self._refuted(math_numeric.compare(a, b))

    def fast_proportional(self, a: Node, b: Node) -> tuple[Result, Outcome | None]:
        form_a, form_b = canonical(a), canonical(b)
        if form_a is not None and form_b is not None and form_a.proportional(form_b):
            self.note("exact")
            return True, None
        return self._refuted(math_numeric.compare_proportional(a, b))

    def _refuted(self, outcome: Outcome) -> tuple[Result, Outcome]:
        """False when numeric evaluation proved a difference; otherwise still open."""
        if outcome is Outcome.DIFFERENT:
            self.note("numeric")
            return False, outcome
        return None, outcome


def match_answers(response: str, gold: str, judge: Judge) -> tuple[Result, str]:
    """Whether the extracted response answer equals the gold answer, and why not."""
    try:
        gold_tree = parse_answer(gold)
    except ParseError as error:
        same = _same_text(response, gold)
        return same, "" if same else f"gold is not parseable math ({error}); texts differ"
    decimal = _decimal_comma(response) if _is_scalar(gold_tree) else None
    try:
        response_tree = decimal or parse_answer(response)
    except ParseError as error:
        if gold_tree[0] == "text":
            response_tree = ("text", text_key(response))
        else:
            same = _same_text(response, gold)
            return same, "" if same else f"answer is not parseable math ({error})"
    if decimal is None and _is_scalar(response_tree):
        gold_tree = _decimal_comma(gold) or gold_tree
    if "text" in (gold_tree[0], response_tree[0]):
        same = text_key(response) == text_key(gold)
        return same, "" if same else "word answers differ"
    if response_tree == gold_tree:
        judge.note("exact")
        return True, ""
    result = compare(response_tree, gold_tree, judge)
    return result, "" if result else "not equivalent"


def _is_scalar(node: Node) -> bool:
    return node[0] not in (*_STRUCTURES, *_STRUCTURAL, "eq", "ratio")


_DECIMAL_COMMA = re.compile(r"(-?\d+)(?:,|\{,\})(\d{1,2}|\d{4,})")


def _decimal_comma(answer: str) -> Node | None:
    match = _DECIMAL_COMMA.fullmatch(answer.strip().strip("$").strip())
    return ("num", Fraction(f"{match[1]}.{match[2]}")) if match else None


def _same_text(a: str, b: str) -> bool:
    return normalize(a).replace(" ", "") == normalize(b).replace(" ", "")


def compare(response: Node, gold: Node, judge: Judge) -> Result:
    r, g = _unwrap(response), _unwrap(gold)
    if r[0] == "eq" or g[0] == "eq":
        return _compare_equations(r, g, judge)
    if r[0] == "percent" or g[0] == "percent":
        return _compare_percent(r, g, judge)
    if r[0] == "ratio" or g[0] == "ratio":
        return _compare_ratios(r, g, judge)
    if r[0] in _ORDERED + _UNORDERED or g[0] in _ORDERED + _UNORDERED:
        return _compare_collections(r, g, judge)
    if r[0] in _STRUCTURAL or g[0] in _STRUCTURAL:
        return _compare_structural(r, g, judge)
    return judge.equal(r, g)


def _unwrap(node: Node) -> Node:
    while node[0] in ("list", "set") and len(node[1]) == 1:
        node = node[1][0]
    return node


def _is_name(node: Node) -> bool:
    """What a left side names the answer with: x, f(x), x_1, PQ, |PQ|, (a, b), S_1:S_2, and
    combinations of two or more variables without a constant term (m + n, 100a + b)."""
    tag = node[0]
    if tag in ("sym", "apply"):
        return True
    if tag == "mul":  # letters of a word: Area is A*r*e*a
        return all(_is_letter(factor) for factor in node[1])
    if tag == "fn" and node[1] == "abs":
        return _is_name(node[2][0])
    if tag in ("tuple", "ratio"):
        items = node[3] if tag == "tuple" else node[1]
        return all(map(_is_name, items))
    if tag == "add":
        return len(math_numeric.free_symbols(node)) >= 2 and all(map(_is_monomial, node[1]))
    return False


def _is_letter(node: Node) -> bool:
    return node[0] == "sym" or (node[0] == "const" and node[1] in ("e", "i"))


def _is_monomial(node: Node) -> bool:
    """x, xy, 100a, -b: a term of a combination of variables."""
    if node[0] == "neg":
        return _is_monomial(node[1])
    if node[0] == "mul":
        return all(f[0] == "sym" or f[0] == "num" for f in node[1]) and any(
            f[0] == "sym" for f in node[1]
        )
    return node[0] == "sym"


def _value_side(equation: Node) -> Node | None:
    """The side of ``lhs = rhs`` that is the answer, when one is (see the module doc)."""
    lhs, rhs = equation[1], equation[2]
    if _is_name(lhs) or rhs[0] in _STRUCTURES or not math_numeric.free_symbols(lhs):
        return rhs
    return None


def _compare_equations(r: Node, g: Node, judge: Judge) -> Result:
    if r[0] == "eq" and g[0] == "eq":
        if r[1] == g[1] and _is_name(r[1]):
            return compare(r[2], g[2], judge)
        return judge.proportional(_difference(r), _difference(g))
    if r[0] == "eq":
        value = _value_side(r)
        return compare(value, g, judge) if value is not None else False
    return compare(r, g[2], judge) if _is_name(g[1]) else False


def _difference(equation: Node) -> Node:
    return ("add", (equation[1], ("neg", equation[2])))


def _compare_percent(r: Node, g: Node, judge: Judge) -> Result:
    """``62.5%`` matches 62.5 and 0.625."""
    if r[0] == "percent" and g[0] == "percent":
        return compare(r[1], g[1], judge)
    if r[0] == "percent":
        return any3(compare(v, g, judge) for v in (r[1], ("div", r[1], _HUNDRED)))
    return any3(compare(r, v, judge) for v in (g[1], ("div", g[1], _HUNDRED)))


def _compare_ratios(r: Node, g: Node, judge: Judge) -> Result:
    """``5:13`` matches ``10:26`` and ``\\frac{5}{13}``; never ``13:5``."""
    if r[0] == g[0] == "ratio":
        if len(r[1]) != len(g[1]):
            return False
        same = all3(compare(a, b, judge) for a, b in zip(r[1], g[1], strict=True))
        if same is True or len(r[1]) != 2:
            return same
        return any3([same, compare(_quotient(r), _quotient(g), judge)])
    ratio, other = (r, g) if r[0] == "ratio" else (g, r)
    if len(ratio[1]) != 2 or other[0] in _STRUCTURES:
        return False
    return compare(_quotient(ratio), other, judge)


def _quotient(ratio: Node) -> Node:
    return ("div", ratio[1][0], ratio[1][1])


def _compare_structural(r: Node, g: Node, judge: Judge) -> Result:
    if r[0] != g[0]:
        return False
    if r[0] == "rel":
        if r[1] != g[1] or len(r[2]) != len(g[2]):
            return False
        return all3(compare(a, b, judge) for a, b in zip(r[2], g[2], strict=True))
    return r == g


def _items(node: Node) -> tuple[Node, ...]:
    if node[0] == "tuple":
        return node[3]
    if node[0] == "matrix":
        return tuple(cell for row in node[1] for cell in row)
    return node[1]


def _is_vector(node: Node) -> bool:
    return node[0] == "matrix" and (len(node[1]) == 1 or len(node[1][0]) == 1)


def _compare_collections(r: Node, g: Node, judge: Judge) -> Result:
    kinds = {r[0], g[0]}
    if kinds <= set(_UNORDERED):
        if "union" in kinds and r[0] != g[0]:
            return False
        return match_unordered(_items(r), _items(g), judge)
    if r[0] == "tuple" and g[0] == "tuple" and r[1:3] != g[1:3]:
        return False
    if r[0] == "matrix" and g[0] == "matrix":
        if len(r[1]) != len(g[1]) or len(r[1][0]) != len(g[1][0]):
            return False
    elif kinds == {"tuple", "list"} or (
        kinds & {"tuple", "list"} and (_is_vector(r) or _is_vector(g))
    ):
        pass  # a bare list or a vector stands for a tuple written another way
    elif r[0] != g[0]:
        return False
    items_r, items_g = _items(r), _items(g)
    if len(items_r) != len(items_g):
        return False
    return all3(compare(a, b, judge) for a, b in zip(items_r, items_g, strict=True))


def match_unordered(rs: tuple[Node, ...], gs: tuple[Node, ...], judge: Judge) -> Result:
    """Multiset equality: True with a matching of proved pairs, False with none possible."""
    if len(rs) != len(gs):
        return False
    table = [[compare(r, g, judge) for g in gs] for r in rs]
    if _perfect_matching(table, lambda x: x is True):
        return True
    if not _perfect_matching(table, lambda x: x is not False):
        return False
    return None


def _perfect_matching(table: list[list[Result]], usable: Callable[[Result], bool]) -> bool:
    size = len(table)
    owner: list[int | None] = [None] * size

    def assign(row: int, seen: list[bool]) -> bool:
        for col in range(size):
            if usable(table[row][col]) and not seen[col]:
                seen[col] = True
                holder = owner[col]
                if holder is None or assign(holder, seen):
                    owner[col] = row
                    return True
        return False

    return all(assign(row, [False] * size) for row in range(size))


def all3(results: Iterable[Result]) -> Result:
    return _fold(results, decisive=False)


def any3(results: Iterable[Result]) -> Result:
    return _fold(results, decisive=True)


def _fold(results: Iterable[Result], decisive: bool) -> Result:
    """Three-valued and/or: the decisive value wins, else unknown beats the other value."""
    unknown = False
    for result in results:
        if result is decisive:
            return decisive
        unknown |= result is None
    return None if unknown else not decisive
