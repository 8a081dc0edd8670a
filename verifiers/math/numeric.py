"""High-precision numeric comparison of answer trees (mpmath, no sympy).

Both sides are evaluated at the same points (none for constants; three pseudo-random points,
or eight integer points when floor/factorial/binomial take variables) at two precisions, 50 and
80 digits plus whatever the tree's numbers span (pi + 10^-70 gets 100 more).
A difference that stays put when the precision rises is real, however tiny
(1/2004! vs 1/2006! differ); a difference that shrinks with the precision is rounding noise.
Anything else is reported as unknown rather than guessed.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Callable
from enum import Enum
from fractions import Fraction

from mpmath.ctx_mp import MPContext

from verifiers.math.parse import Node

_BASE_DIGITS = (50, 80)
# Extra digits for trees whose literals span many orders of magnitude (pi + 10^-70).
_EXTRA_DIGITS = (0, 100, 300, 1000, 3000)
# mpmath functions bump a context's precision while they run: one set of contexts per thread.
_per_thread = threading.local()

_POINTS = 3
_INTEGER_POINTS = 8  # integer samples are few and small: take more of them
_MAX_EXPONENT = 10**7
_MAX_FACTORIAL_ARG = 10**7
_INTEGER_FUNCTIONS = {"floor", "ceil", "factorial", "binom", "gcd", "lcm"}


class Outcome(Enum):
    EQUAL = "equal"
    DIFFERENT = "different"
    UNKNOWN = "unknown"


class NotNumeric(Exception):
    """The tree has no numeric value here (a set, a pole, a tower of powers)."""


def compare(a: Node, b: Node) -> Outcome:
    """Whether two scalar trees have the same value everywhere they are sampled."""
    return _compare_at_points(a, b, lambda va, vb, ctx: (va, vb))


def compare_proportional(a: Node, b: Node) -> Outcome:
    """Whether ``a = k * b`` for one nonzero constant k (equations written two ways)."""
    ratios: dict[int, object] = {}

    def scaled(va, vb, ctx):
        key = id(ctx)
        if key not in ratios:
            if vb == 0 or va == 0:
                raise NotNumeric("zero at the first point")
            ratios[key] = va / vb
        return va, ratios[key] * vb

    return _compare_at_points(a, b, scaled)


def _compare_at_points(a: Node, b: Node, transform: Callable) -> Outcome:
    names = sorted(free_symbols(a) | free_symbols(b))
    integer_points = bool(names) and (_uses_integer_functions(a) or _uses_integer_functions(b))
    try:
        contexts = _contexts_for(max(magnitude_digits(a), magnitude_digits(b)))
    except NotNumeric:
        return Outcome.UNKNOWN
    outcomes = []
    points = (_INTEGER_POINTS if integer_points else _POINTS) if names else 1
    for point in range(points):
        env = {name: _sample(name, point, integer_points) for name in names}
        try:
            pairs = [
                transform(evaluate(a, ctx, env), evaluate(b, ctx, env), ctx) for ctx in contexts
            ]
        except (NotNumeric, ZeroDivisionError, ValueError, OverflowError, TypeError):
            continue
        outcome = _judge(pairs)
        if outcome is Outcome.DIFFERENT:
            return outcome
        outcomes.append(outcome)
    if outcomes and all(o is Outcome.EQUAL for o in outcomes):
        return Outcome.EQUAL
    return Outcome.UNKNOWN


def _contexts_for(extra_digits: float) -> tuple[MPContext, MPContext]:
    """A (lower, higher) precision pair with at least ``extra_digits`` beyond the base."""
    extra = next((e for e in _EXTRA_DIGITS if extra_digits <= e), None)
    if extra is None:
        raise NotNumeric(f"needs {extra_digits:.0f} extra digits")
    contexts = _per_thread.__dict__.setdefault("contexts", {})
    if extra not in contexts:
        contexts[extra] = (MPContext(), MPContext())
        for context, digits in zip(contexts[extra], _BASE_DIGITS, strict=True):
            context.dps = digits + extra
    return contexts[extra]


def magnitude_digits(node: Node) -> float:
    """Decimal orders of magnitude a tree's numbers span: 10^-70 -> 70, 2004! -> 5700."""
    tag = node[0]
    if tag == "num":
        return 0.302 * (node[1].numerator.bit_length() + node[1].denominator.bit_length())
    if tag not in ("pow", "fn", "add", "mul", "neg", "div", "root", "percent"):
        return 0.0
    parts = node[2] if tag == "fn" else node[1] if tag in ("add", "mul") else node[1:]
    widest = max((magnitude_digits(p) for p in parts if isinstance(p, tuple)), default=0.0)
    if tag == "pow" or (tag == "fn" and node[1] == "factorial"):
        widest = max(widest, _rough_log10(node))
    return widest


def _rough_log10(node: Node) -> float:
    """|log10| of a constant subtree's value at low precision (0 when it has none)."""
    if free_symbols(node):
        return 0.0
    ctx = _contexts_for(0)[0]
    try:
        value = abs(evaluate(node, ctx, {}))
    except (NotNumeric, ZeroDivisionError, ValueError, OverflowError, TypeError):
        return 0.0
    return abs(float(ctx.log10(value))) if value and not ctx.isinf(value) else 0.0


def _judge(pairs: list) -> Outcome:
    (a_low, b_low), (a_high, b_high) = pairs
    ctx = _contexts_for(0)[1]
    if any(ctx.isnan(v) for v in (a_low, b_low, a_high, b_high)):
        return Outcome.UNKNOWN
    if ctx.isinf(a_high) or ctx.isinf(b_high):
        return Outcome.EQUAL if a_high == b_high else Outcome.DIFFERENT
    d_low, d_high = a_low - b_low, a_high - b_high
    if d_low == 0 and d_high == 0:
        return Outcome.EQUAL
    scale = max(abs(a_high), abs(b_high))
    noise_high = scale * ctx.mpf(10) ** (12 - _digits(a_high, b_high))
    noise_low = scale * ctx.mpf(10) ** (12 - _digits(a_low, b_low))
    if abs(d_high) <= noise_high and abs(d_low) <= noise_low:
        return Outcome.EQUAL
    if d_high != 0 and abs(d_low - d_high) <= abs(d_high) * ctx.mpf(10) ** -12:
        return Outcome.DIFFERENT
    return Outcome.UNKNOWN


def _digits(*values) -> int:
    """Decimal precision the values were computed with."""
    return min(math.floor(v.context.prec * 0.30103) for v in values)


def free_symbols(node: Node) -> set[str]:
    found: set[str] = set()
    _collect(node, found)
    return found


def _collect(node: object, found: set[str]) -> None:
    if not isinstance(node, tuple):
        return
    if node and node[0] == "sym":
        found.add(node[1])
        return
    for part in node:
        _collect(part, found)


def _uses_integer_functions(node: object) -> bool:
    if not isinstance(node, tuple):
        return False
    if len(node) >= 3 and node[0] == "fn" and node[1] in _INTEGER_FUNCTIONS:
        return True
    return any(_uses_integer_functions(part) for part in node)


def _sample(name: str, point: int, integer_points: bool) -> Fraction:
    """A fixed pseudo-random value per (variable, point), the same on both sides."""
    h = zlib.crc32(f"{name}#{point}".encode())
    if integer_points:
        return Fraction(4 + h % 29)
    return Fraction(1, 2) + Fraction(h % 1_000_003, 666_669)


def evaluate(node: Node, ctx: MPContext, env: dict[str, Fraction]):
    """Value of a scalar tree in the context's precision (mpf or mpc)."""
    tag = node[0]
    if tag == "num":
        return ctx.mpf(node[1].numerator) / node[1].denominator
    if tag == "sym":
        value = env[node[1]]
        return ctx.mpf(value.numerator) / value.denominator
    if tag == "const":
        return _CONSTANTS[node[1]](ctx)
    if tag == "add":
        return ctx.fsum(evaluate(t, ctx, env) for t in node[1])
    if tag == "mul":
        result = ctx.mpf(1)
        for factor in node[1]:
            result *= evaluate(factor, ctx, env)
        return result
    if tag == "neg":
        return -evaluate(node[1], ctx, env)
    if tag == "div":
        return evaluate(node[1], ctx, env) / evaluate(node[2], ctx, env)
    if tag == "pow":
        return _power(evaluate(node[1], ctx, env), evaluate(node[2], ctx, env), ctx)
    if tag == "root":
        return _root(evaluate(node[1], ctx, env), evaluate(node[2], ctx, env), ctx)
    if tag == "percent":
        return evaluate(node[1], ctx, env)
    if tag == "fn":
        return _function(node[1], [evaluate(arg, ctx, env) for arg in node[2]], ctx)
    if tag == "apply":
        return _unknown_function(node[1], [evaluate(arg, ctx, env) for arg in node[2]], ctx)
    raise NotNumeric(tag)


_CONSTANTS = {
    "pi": lambda ctx: +ctx.pi,
    "e": lambda ctx: +ctx.e,
    "i": lambda ctx: ctx.mpc(0, 1),
    "inf": lambda ctx: ctx.inf,
}


def _power(base, exponent, ctx: MPContext):
    if abs(exponent) > _MAX_EXPONENT and abs(base) not in (0, 1):
        raise NotNumeric("power too large")
    if base == 0 and ctx.re(exponent) <= 0:
        raise ZeroDivisionError("0 to a non-positive power")
    return ctx.power(base, exponent)


def _root(radicand, index, ctx: MPContext):
    if ctx.im(radicand) == 0 and radicand < 0 and index == int(index) and int(index) % 2:
        return -ctx.root(-radicand, int(index))
    return ctx.power(radicand, 1 / index)


def _snap(x, ctx: MPContext):
    """An integer when x is within rounding noise of one (floor(3 * 1/3) is 1)."""
    nearest = ctx.nint(x)
    return nearest if abs(x - nearest) <= ctx.mpf(10) ** (10 - ctx.dps) * max(1, abs(x)) else x


def _function(name: str, args: list, ctx: MPContext):
    x = args[0]
    if name in _UNARY:
        return getattr(ctx, name)(x)
    if name == "abs":
        return abs(x)
    if name == "log":
        return ctx.log(x) / ctx.log(args[1]) if len(args) == 2 else ctx.log(x)
    if name in ("floor", "ceil"):
        snapped = _snap(ctx.re(x), ctx)
        return ctx.floor(snapped) if name == "floor" else ctx.ceil(snapped)
    if name == "factorial":
        if abs(x) > _MAX_FACTORIAL_ARG:
            raise NotNumeric("factorial too large")
        return ctx.factorial(x)
    if name == "binom":
        return ctx.binomial(x, args[1])
    if name in ("max", "min"):
        return max(args) if name == "max" else min(args)
    raise NotNumeric(name)


# Our function names that are also mpmath's.
_UNARY = {"sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "acot"}
_UNARY |= {"sinh", "cosh", "tanh"}


def _unknown_function(name: str, args: list, ctx: MPContext):
    """A fixed smooth stand-in for f(x), u(t): the same on both sides, unlike any formula."""
    h = zlib.crc32(name.encode())
    total = ctx.mpf(h % 97) / 31
    for k, arg in enumerate(args, start=1):
        total += ctx.sin(arg * (1 + ctx.mpf(h % (89 + k)) / 17) + k) * (1 + ctx.mpf(k) / 7)
    return total
