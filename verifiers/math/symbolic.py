"""Sympy's part of equivalence checking; imported only inside worker processes.

``SympyJudge`` extends the in-process judge: when exact forms and numeric refutation leave a
scalar question open, sympy tries to simplify the difference to zero; failing that, agreement
of the high-precision numeric evaluation at every sample point decides.
"""

from __future__ import annotations

import sympy

from verifiers.math.compare import Judge, Result
from verifiers.math.numeric import Outcome
from verifiers.math.parse import Node

_FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot,
    "sec": sympy.sec, "csc": sympy.csc, "asin": sympy.asin, "acos": sympy.acos,
    "atan": sympy.atan, "acot": sympy.acot, "sinh": sympy.sinh, "cosh": sympy.cosh,
    "tanh": sympy.tanh, "log": sympy.log, "abs": sympy.Abs, "floor": sympy.floor,
    "ceil": sympy.ceiling, "factorial": sympy.factorial, "binom": sympy.binomial,
    "max": sympy.Max, "min": sympy.Min, "gcd": sympy.gcd, "lcm": sympy.lcm,
}  # fmt: skip
_CONSTANTS = {"pi": sympy.pi, "e": sympy.E, "i": sympy.I, "inf": sympy.oo}
_SIMPLIFIERS = (sympy.expand, sympy.radsimp, sympy.simplify)


class NotSympy(ValueError):
    """A tree that has no sympy counterpart (a set, a based number)."""


def to_sympy(node: Node) -> sympy.Expr:
    tag = node[0]
    if tag == "num":
        return sympy.Rational(node[1].numerator, node[1].denominator)
    if tag == "sym":
        return sympy.Symbol(node[1])
    if tag == "const":
        return _CONSTANTS[node[1]]
    if tag == "add":
        return sympy.Add(*map(to_sympy, node[1]))
    if tag == "mul":
        return sympy.Mul(*map(to_sympy, node[1]))
    if tag == "neg":
        return -to_sympy(node[1])
    if tag == "div":
        return to_sympy(node[1]) / to_sympy(node[2])
    if tag == "pow":
        return sympy.Pow(to_sympy(node[1]), to_sympy(node[2]))
    if tag == "root":
        index = to_sympy(node[2])
        if index.is_Integer and index % 2 == 1:
            return sympy.real_root(to_sympy(node[1]), index)
        return sympy.root(to_sympy(node[1]), index)
    if tag == "percent":
        return to_sympy(node[1])
    if tag == "fn":
        return _FUNCTIONS[node[1]](*map(to_sympy, node[2]))
    if tag == "apply":
        return sympy.Function(node[1])(*map(to_sympy, node[2]))
    raise NotSympy(tag)


def simplifies_to_zero(expression: sympy.Expr) -> bool:
    """True when sympy proves the expression is zero (cheap rewrites before simplify)."""
    if expression == 0:
        return True
    return any(simplifier(expression) == 0 for simplifier in _SIMPLIFIERS)


class SympyJudge(Judge):
    """The worker's judge: decides every scalar question the fast judge leaves open."""

    def equal(self, a: Node, b: Node) -> Result:
        result, outcome = self.fast_equal(a, b)
        if result is not None:
            return result
        return self._decide(lambda: to_sympy(a) - to_sympy(b), outcome)

    def proportional(self, a: Node, b: Node) -> Result:
        result, outcome = self.fast_proportional(a, b)
        if result is not None:
            return result

        def ratio_derivative() -> sympy.Expr:
            ratio = to_sympy(a) / to_sympy(b)
            return sympy.Add(*(sympy.diff(ratio, s) ** 2 for s in ratio.free_symbols))

        return self._decide(ratio_derivative, outcome)

    def _decide(self, build, outcome: Outcome | None) -> Result:
        try:
            if simplifies_to_zero(build()):
                self.note("sympy")
                return True
        except (NotSympy, TypeError, ValueError, AttributeError, ZeroDivisionError):
            pass
        if outcome is Outcome.EQUAL:
            self.note("numeric")
            return True
        return None
