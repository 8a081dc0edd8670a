"""The mock's math answers against the project's math verifier: every equivalent rewrite of a
gold passes and every near miss is a wrong answer, for golds of every shape and all of MATH-500.
This is what makes the mock's correct rate the pass rate a run measures."""

from __future__ import annotations

import json

import pytest

from engine.testing.math_answers import _forms, near_miss, rewrite
from tests.helpers import shared_file
from verifiers.math import verify

#: golds of every shape the mock knows, with one rewrite and one near miss it must offer
SHAPES = {
    "12": ("12.0", "13"),
    "-7": ("-7.0", "7"),
    "1000000": ("1{,}000{,}000", "1000001"),
    "0": ("0.0", "1"),
    "0.75": ("\\frac{3}{4}", "0.76"),
    ".35625": ("\\frac{57}{160}", "0.35626"),
    "\\frac{3}{4}": ("0.75", "\\frac{4}{3}"),
    "\\dfrac{17}{50}": ("0.34", "\\frac{67}{50}"),
    "-\\frac{2}{3}": ("-2/3", "\\frac{2}{3}"),
    "\\frac 59": ("5/9", "\\frac{9}{5}"),
    "3/8": ("0.375", "8/3"),
    "2\\sqrt{3}": ("\\sqrt{12}", "3\\sqrt{3}"),
    "\\sqrt{51}": ("51^{1/2}", "\\sqrt{52}"),
    "-\\sqrt{3}": ("-1 \\cdot \\sqrt{3}", "\\sqrt{3}"),
    "288 \\pi": ("\\pi \\cdot 288", "289\\pi"),
    "\\frac{\\pi}{2}": ("\\pi/2", "\\frac{\\pi}{3}"),
    "5\\text{ cm}": ("5", "6\\text{ cm}"),
    "90^\\circ": ("90°", "91^\\circ"),
    "\\$18.90": ("18.9", "\\$19.9"),
    "25\\%": ("25", "26\\%"),
    "\\text{Monday}": ("\\textbf{Monday}", "\\text{Tuesday}"),
    "\\text{even}": ("\\text{even}", "\\text{odd}"),
    "\\text{(C)}": ("C", "\\text{(D)}"),
    "[2, 5)": ("\\left[ 2, 5 \\right)", "[2, 5]"),
    "(-\\infty, 3]": ("(-\\infty,3]", "(-\\infty, 3)"),
    "(0,9) \\cup (9,36)": ("(0, 9) \\cup (9, 36)", "(0, 9) \\cup (9, 36]"),
    "(1, 2)": ("(1,2)", "(2, 1)"),
    "(6,31,-1)": ("(6, 31, -1)", "(31, 6, -1)"),
    "\\left( 3, \\frac{\\pi}{2} \\right)": ("(3,\\frac{\\pi}{2})", "(\\frac{\\pi}{2}, 3)"),
    "(\\frac{1}{2}, 3)": ("(0.5, 3)", "(3, \\frac{1}{2})"),
    "3, 5, 7": ("7, 5, 3", "3, 5, 8"),
    "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}": (
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}",
    ),
    "\\begin{pmatrix} 1/2 \\\\ -3 \\end{pmatrix}": (
        "\\begin{pmatrix} 0.5 \\\\ -3 \\end{pmatrix}",
        "\\begin{pmatrix} 1/2 \\\\ -2 \\end{pmatrix}",
    ),
    "x^2 + 2x + 1": ("1 + 2x + x^2", "x^2 + 2x - 1"),
    "p - q": ("-q + p", "p + q"),
    "6 - 5i": ("-5i + 6", "6 + 5i"),
    "1+2\\sqrt{3}": ("2\\sqrt{3} + 1", "1 - 2\\sqrt{3}"),
    "y = 2x + 3": ("2x + 3 = y", "y = 2x - 3"),
    "y = -2x": ("-2x = y", "y = -3x"),
    "3 \\pm 2 \\sqrt{2}": ("3\\pm2\\sqrt{2}", "4 \\pm 2 \\sqrt{2}"),
    "52_8": ("52_8", "53_8"),
    "\\frac{11+9a}{20}": ("\\frac{11+9a}{20}", "\\frac{12+9a}{20}"),
}


def boxed(answer: str) -> str:
    return f"<think>\nSo far \\boxed{{99}}.\n</think>\n\nThe final answer is $\\boxed{{{answer}}}$."


def failures(gold: str) -> list[str]:
    """What the verifier refuses among the gold's rewrites or accepts among its near misses."""
    rewrites, misses = _forms(gold)
    bad = [f"rewrite {r!r}: {v}" for r in rewrites if not (v := verify(boxed(r), gold)).passed]
    for miss in misses:
        verdict = verify(boxed(miss), gold)
        if verdict.status != "wrong_answer":
            bad.append(f"near miss {miss!r}: {verdict}")
    return bad


@pytest.mark.parametrize("gold", SHAPES)
def test_each_shape_has_its_rewrites_and_near_misses_and_the_verifier_agrees(gold: str) -> None:
    rewrites, misses = _forms(gold)
    expected_rewrite, expected_miss = SHAPES[gold]
    assert expected_rewrite in rewrites and expected_miss in misses, (rewrites, misses)
    assert failures(gold) == []


def test_math500_golds_every_rewrite_passes_and_every_near_miss_fails() -> None:
    golds = [row["answer"] for row in json.loads(shared_file("math/math500.json").read_text())]
    assert len(golds) == 500
    assert [(gold, bad) for gold in golds if (bad := failures(gold))] == []
    rewritten = sum(len(_forms(gold)[0]) > 1 for gold in golds)
    assert rewritten >= 450, rewritten  # nearly every gold has a form other than itself


def test_choice_picks_every_form_and_is_deterministic() -> None:
    rewrites, misses = _forms("\\frac{3}{4}")
    picks = {rewrite("\\frac{3}{4}", i / 100) for i in range(100)}
    assert picks == set(rewrites) and {near_miss("\\frac{3}{4}", i / 100) for i in range(100)} == (
        set(misses)
    )
    assert rewrite(" 12 ", 0.99) == rewrite("12", 0.99)
