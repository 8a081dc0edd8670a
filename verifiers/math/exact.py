"""Exact canonical forms of answer trees, for proofs of equality without sympy.

A form is a fraction of two Laurent polynomials with rational coefficients over atoms: free
variables, pi, e, i (with i^2 = -1), roots of positive integers (2^(1/2), 3^(2/3): exponents
kept in (0, 1), whole parts moved into the coefficient) and opaque atoms for everything else
(sin(x), f(x), 2^n, ...). Every rewrite used is a true identity, so equal forms prove equal
values. Unequal forms prove nothing unless both are plain rationals: the caller then falls back
to numeric evaluation and sympy.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from verifiers.math.parse import Node

Monomial = tuple  # sorted ((atom, exponent), ...)
Poly = dict  # Monomial -> Fraction

MAX_TERMS = 400
MAX_BITS = 60_000
MAX_POWER = 64
MAX_FACTORIAL = 3000
_TRIAL_DIVISION_LIMIT = 20_000


class NotExact(Exception):
    """The tree leaves what this module can decide exactly (infinity, a set, a huge power)."""


class Form:
    """num / den, both polynomials; den is 1 unless it has several terms."""

    __slots__ = ("den", "num")

    def __init__(self, num: Poly, den: Poly | None = None):
        self.num = num
        self.den = den if den is not None else {(): Fraction(1)}

    def rational(self) -> Fraction | None:
        """The value when the form is a plain rational number."""
        if self.den != {(): Fraction(1)} or any(self.num.keys() - {()}):
            return None
        return self.num.get((), Fraction(0))

    def equals(self, other: Form) -> bool:
        return _mul_poly(self.num, other.den) == _mul_poly(other.num, self.den)

    def proportional(self, other: Form) -> bool:
        """True when self = k * other for a nonzero rational k."""
        left, right = _mul_poly(self.num, other.den), _mul_poly(other.num, self.den)
        if not left or left.keys() != right.keys():
            return False
        monomial = next(iter(left))
        ratio = left[monomial] / right[monomial]
        return all(left[m] == ratio * right[m] for m in left)

    def key(self) -> str:
        return repr((sorted(self.num.items()), sorted(self.den.items())))


@lru_cache(maxsize=16384)
def canonical(node: Node) -> Form | None:
    """The exact form of a scalar tree, or None when it has none within the limits."""
    try:
        return _form(node)
    except (NotExact, ZeroDivisionError, OverflowError, ValueError, RecursionError):
        return None


def _form(node: Node) -> Form:
    tag = node[0]
    if tag == "num":
        return _constant(node[1])
    if tag == "sym":
        return _atom(node[1])
    if tag == "const":
        if node[1] == "inf":
            raise NotExact("infinity")
        return _atom(node[1])
    if tag == "based":
        return _atom(f"based:{node[1]}_{node[2]}")
    if tag == "add":
        result = _form(node[1][0])
        for term in node[1][1:]:
            result = _add(result, _form(term))
        return result
    if tag == "mul":
        result = _form(node[1][0])
        for factor in node[1][1:]:
            result = _mul(result, _form(factor))
        return result
    if tag == "neg":
        form = _form(node[1])
        return Form({m: -c for m, c in form.num.items()}, form.den)
    if tag == "div":
        return _mul(_form(node[1]), _inverse(_form(node[2])))
    if tag == "pow":
        return _power(node[1], node[2])
    if tag == "root":
        index = _form(node[2]).rational()
        radicand = _form(node[1]).rational()
        if index is None or index.denominator != 1 or index <= 0 or radicand is None:
            return _opaque("root", (node[1], node[2]))
        return _rational_root(radicand, int(index), real_root=True)
    if tag == "fn":
        return _function(node[1], node[2])
    if tag == "apply":
        return _opaque(f"apply:{node[1]}", node[2])
    raise NotExact(tag)


def _constant(value: Fraction) -> Form:
    _check_size(value)
    return Form({(): value} if value else {})


def _atom(name: str) -> Form:
    return Form({((name, 1),): Fraction(1)})


def _opaque(name: str, args: tuple[Node, ...]) -> Form:
    keys = ",".join(_form(arg).key() for arg in args)
    return _atom(f"{name}({keys})")


def _check_size(value: Fraction) -> None:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise NotExact("number too large")


# -- polynomial arithmetic ------------------------------------------------------------------


def _mul_monomials(a: Monomial, b: Monomial) -> tuple[Fraction, Monomial]:
    """Product of two monomials as (coefficient picked up, reduced monomial)."""
    if not a:
        return Fraction(1), b
    if not b:
        return Fraction(1), a
    exponents = dict(a)
    for atom, exp in b:
        exponents[atom] = exponents.get(atom, 0) + exp
    coefficient = Fraction(1)
    for atom, exp in list(exponents.items()):
        if atom == "i":
            if exp % 4 >= 2:
                coefficient = -coefficient
            exp %= 2
        elif atom.startswith("r:"):
            whole = math.floor(exp)
            if whole:
                coefficient *= Fraction(int(atom[2:])) ** whole
                exp -= whole
        if exp:
            exponents[atom] = exp
        else:
            del exponents[atom]
    return coefficient, tuple(sorted(exponents.items()))


def _mul_poly(a: Poly, b: Poly) -> Poly:
    result: Poly = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            factor, monomial = _mul_monomials(ma, mb)
            _accumulate(result, monomial, ca * cb * factor)
    for value in result.values():
        _check_size(value)
    return _bounded(result)


def _add_poly(a: Poly, b: Poly) -> Poly:
    result = dict(a)
    for monomial, coefficient in b.items():
        _accumulate(result, monomial, coefficient)
    return _bounded(result)


def _accumulate(poly: Poly, monomial: Monomial, value: Fraction) -> None:
    total = poly.get(monomial, 0) + value
    if total:
        poly[monomial] = total
    else:
        poly.pop(monomial, None)


def _bounded(poly: Poly) -> Poly:
    if len(poly) > MAX_TERMS:
        raise NotExact("too many terms")
    return poly


def _add(a: Form, b: Form) -> Form:
    if a.den == b.den:
        return Form(_add_poly(a.num, b.num), a.den)
    return _reduce(
        Form(_add_poly(_mul_poly(a.num, b.den), _mul_poly(b.num, a.den)), _mul_poly(a.den, b.den))
    )


def _mul(a: Form, b: Form) -> Form:
    return _reduce(Form(_mul_poly(a.num, b.num), _mul_poly(a.den, b.den)))


def _inverse(form: Form) -> Form:
    if not form.num:
        raise ZeroDivisionError("division by zero")
    return _reduce(Form(form.den, form.num))


def _reduce(form: Form) -> Form:
    """Fold a one-term denominator into the numerator (monomials are invertible)."""
    if len(form.den) != 1:
        return form
    ((monomial, coefficient),) = form.den.items()
    inverse_coefficient, inverse_monomial = _invert_monomial(monomial)
    factor = {inverse_monomial: inverse_coefficient / coefficient}
    return Form(_mul_poly(form.num, factor))


def _invert_monomial(monomial: Monomial) -> tuple[Fraction, Monomial]:
    coefficient = Fraction(1)
    exponents = []
    for atom, exp in monomial:
        if atom == "i":
            coefficient = -coefficient  # 1/i = -i
            exponents.append((atom, exp))
        elif atom.startswith("r:"):
            coefficient /= int(atom[2:])  # p^-e = p^(1-e) / p
            exponents.append((atom, 1 - exp))
        else:
            exponents.append((atom, -exp))
    return coefficient, tuple(exponents)


# -- powers, roots, functions ---------------------------------------------------------------


def _power(base_node: Node, exponent_node: Node) -> Form:
    exponent_form = canonical(exponent_node)
    exponent = exponent_form.rational() if exponent_form is not None else None
    if exponent is None:
        return _opaque("pow", (base_node, exponent_node))
    base = _form(base_node)
    if exponent.denominator == 1:
        return _integer_power(base, int(exponent))
    value = base.rational()
    if value is None or (value < 0 and exponent.denominator != 2):
        return _opaque("pow", (base_node, exponent_node))
    root = _rational_root(value, exponent.denominator, real_root=False)
    return _integer_power(root, exponent.numerator)


def _integer_power(base: Form, exponent: int) -> Form:
    value = base.rational()
    if value is not None:
        if value == 0 and exponent < 0:
            raise ZeroDivisionError("0 to a negative power")
        if (
            value not in (0, 1, -1)
            and abs(exponent) * max(value.numerator.bit_length(), value.denominator.bit_length())
            > MAX_BITS
        ):
            raise NotExact("power too large")
        return _constant(value**exponent)
    if abs(exponent) > MAX_POWER:
        raise NotExact("power too large")
    if exponent < 0:
        return _integer_power(_inverse(base), -exponent)
    result = Form({(): Fraction(1)})
    square = base
    while exponent:
        if exponent & 1:
            result = _mul(result, square)
        exponent >>= 1
        if exponent:
            square = _mul(square, square)
    return result


def _rational_root(value: Fraction, index: int, *, real_root: bool) -> Form:
    """value^(1/index): principal square roots of negatives; odd real roots when asked."""
    if value == 0:
        return Form({})
    if value < 0 and index == 2:
        return _mul(_atom("i"), _rational_root(-value, 2, real_root=False))
    if value < 0 and not (real_root and index % 2 == 1):
        raise NotExact("complex root")
    sign = Fraction(1 if value > 0 else -1)
    magnitude = abs(value)
    numerator = _integer_root(magnitude.numerator, index)
    denominator = _integer_root(magnitude.denominator, index)
    return _mul(_scale(numerator, sign), _inverse(denominator))


def _scale(form: Form, factor: Fraction) -> Form:
    return Form({m: c * factor for m, c in form.num.items()}, form.den)


def _integer_root(n: int, index: int) -> Form:
    """n^(1/index) as coefficient times prime roots with exponents in (0, 1)."""
    coefficient = Fraction(1)
    exponents: dict[str, Fraction] = {}
    for prime, multiplicity in _factor(n):
        whole, rest = divmod(multiplicity, index)
        coefficient *= Fraction(prime) ** whole
        if rest:
            exponents[f"r:{prime}"] = Fraction(rest, index)
    return Form({tuple(sorted(exponents.items())): coefficient})


def _factor(n: int) -> list[tuple[int, int]]:
    """Prime factorisation by trial division; a large leftover is kept as one factor."""
    factors: list[tuple[int, int]] = []
    candidate = 2
    while candidate * candidate <= n and candidate < _TRIAL_DIVISION_LIMIT:
        count = 0
        while n % candidate == 0:
            n //= candidate
            count += 1
        if count:
            factors.append((candidate, count))
        candidate += 1 if candidate == 2 else 2
    if n > 1:
        factors.append((n, 1))
    return factors


def _function(name: str, args: tuple[Node, ...]) -> Form:
    values = [canonical(arg) for arg in args]
    rationals = [v.rational() if v is not None else None for v in values]
    if all(r is not None for r in rationals):
        exact = _rational_function(name, rationals)
        if exact is not None:
            return _constant(exact)
    return _opaque(f"fn:{name}", args)


def _rational_function(name: str, args: list[Fraction]) -> Fraction | None:
    x = args[0]
    if name == "abs":
        return abs(x)
    if name == "floor":
        return Fraction(math.floor(x))
    if name == "ceil":
        return Fraction(math.ceil(x))
    if name == "factorial" and x.denominator == 1 and 0 <= x <= MAX_FACTORIAL:
        return Fraction(math.factorial(int(x)))
    integers = all(a.denominator == 1 for a in args)
    if name == "binom" and integers and 0 <= args[1] <= x <= MAX_FACTORIAL:
        return Fraction(math.comb(int(x), int(args[1])))
    if name in ("max", "min"):
        return max(args) if name == "max" else min(args)
    if name in ("gcd", "lcm") and integers:
        ints = [int(a) for a in args]
        return Fraction(math.gcd(*ints) if name == "gcd" else math.lcm(*ints))
    if name == "log" and len(args) == 1 and x == 1:
        return Fraction(0)
    return None
