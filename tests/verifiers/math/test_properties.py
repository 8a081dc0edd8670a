"""Property tests: random expressions equal their rewritten forms and differ from perturbed ones.

Sympy builds and prints the forms (its LaTeX printer is independent of the verifier's parser);
the verifier must agree with sympy's own arithmetic.
"""

from __future__ import annotations

from fractions import Fraction

import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifiers.math import verify
from verifiers.math.parse import _parse, parse_answer

x, y = sympy.symbols("x y")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
small = st.integers(-6, 6)
nonzero = small.filter(bool)


@st.composite
def polynomials(draw: st.DrawFn) -> sympy.Expr:
    """A product of 1-3 linear or quadratic factors in x and y with small coefficients."""
    factors = []
    for _ in range(draw(st.integers(1, 3))):
        a, b, c = draw(nonzero), draw(small), draw(small)
        variable = draw(st.sampled_from([x, y]))
        factors.append(a * variable ** draw(st.integers(1, 2)) + b * x + c)
    return sympy.Mul(*factors) * draw(nonzero)


def boxed(expression: sympy.Expr) -> str:
    return f"Expanding everything, we get $\\boxed{{{sympy.latex(expression)}}}$."


@SETTINGS
@given(polynomials())
def test_factored_equals_expanded(poly: sympy.Expr) -> None:
    assert verify(boxed(sympy.expand(poly)), sympy.latex(sympy.factor(poly))).passed
    assert verify(boxed(sympy.factor(poly)), sympy.latex(sympy.expand(poly))).passed


@SETTINGS
@given(polynomials(), nonzero, st.sampled_from([1, x, y, x * y]))
def test_perturbed_polynomial_differs(poly: sympy.Expr, c: int, monomial: sympy.Expr) -> None:
    perturbed = sympy.expand(poly + c * monomial)
    assert verify(boxed(perturbed), sympy.latex(sympy.factor(poly))).status == "wrong_answer"


@settings(SETTINGS, max_examples=20)
@given(polynomials(), polynomials())
def test_rational_function_forms(numerator: sympy.Expr, denominator: sympy.Expr) -> None:
    ratio = numerator / denominator
    if sympy.simplify(denominator) == 0:
        return
    together = sympy.latex(sympy.cancel(ratio))
    assert verify(boxed(sympy.apart(ratio, x)), together).passed
    assert verify(boxed(sympy.cancel(ratio) + sympy.Rational(1, 7)), together).status == (
        "wrong_answer"
    )


@SETTINGS
@given(st.integers(-(10**6), 10**6), st.integers(0, 6), st.integers(0, 6))
def test_terminating_decimal_equals_fraction(numerator: int, twos: int, fives: int) -> None:
    value = Fraction(numerator, 2**twos * 5**fives)
    decimal = f"{float(value):.{max(twos, fives)}f}"
    assert Fraction(decimal) == value
    gold = rf"\frac{{{value.numerator}}}{{{value.denominator}}}"
    assert verify(rf"so \boxed{{{decimal}}}", gold).passed
    tiny = value + Fraction(1, 10 ** (max(twos, fives) + 30))
    assert not verify(rf"so \boxed{{\frac{{{tiny.numerator}}}{{{tiny.denominator}}}}}", gold).passed


@SETTINGS
@given(st.integers(2, 40), st.integers(2, 30), st.integers(1, 9))
def test_radicals(radicand: int, factor: int, offset: int) -> None:
    gold = rf"{factor}\sqrt{{{radicand}}}"
    assert verify(rf"\boxed{{\sqrt{{{factor * factor * radicand}}}}}", gold).passed
    value = sympy.sqrt(factor * factor * radicand + offset)
    assert verify(rf"\boxed{{\sqrt{{{factor * factor * radicand + offset}}}}}", gold).status == (
        "wrong_answer"
    ), value


@SETTINGS
@given(st.integers(1, 3000), st.integers(1, 3))
def test_tiny_distinct_values_never_merge(n: int, gap: int) -> None:
    """1/n! vs 1/(n+gap)! and 1/2^n vs 1/2^(n+gap): tiny, distinct, never equal."""
    assert not verify(rf"\boxed{{\frac{{1}}{{{n}!}}}}", rf"\frac{{1}}{{{n + gap}!}}").passed
    assert not verify(
        rf"\boxed{{\frac{{1}}{{2^{{{n}}}}}}}", rf"\frac{{1}}{{2^{{{n + gap}}}}}"
    ).passed
    assert not verify(rf"\boxed{{\pi+10^{{-{n}}}}}", r"\pi").passed


LATEX_PIECES = [
    *"0123456789+-*/^_{}()[],.=<>|!%$ xyzne",
    *[r"\frac", r"\sqrt", r"\boxed{", r"\pm", r"\left(", r"\right)", r"\infty", r"\text{"],
    *[r"&", r"\\", r"\cup", r"\le", r"\pi", r"\sin", r"\log_", r"\{", r"\}", "or "],
    *[r"\begin{pmatrix}", r"\end{pmatrix}"],
]
latex_soup = st.lists(st.sampled_from(LATEX_PIECES), max_size=30).map("".join)


@settings(SETTINGS, max_examples=200)
@given(latex_soup, latex_soup.filter(str.strip))
def test_any_input_gives_a_typed_verdict(response: str, gold: str) -> None:
    """Garbage in never crashes the verifier: it answers with a Verdict (or a clear error)."""
    try:
        verdict = verify(response, gold, timeout=2.0)
    except ValueError as error:
        assert "gold answer is empty" in str(error)
        return
    assert verdict.status in ("passed", "wrong_answer", "no_answer", "timeout")


@SETTINGS
@given(st.from_regex(r"[0-9]{1,40}", fullmatch=True))
def test_plain_integers_skip_the_parser_with_the_same_tree(digits: str):
    assert parse_answer(digits) == _parse(digits) == ("num", Fraction(int(digits)))
