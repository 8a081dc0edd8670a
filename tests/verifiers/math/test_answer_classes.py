r"""Whole responses of each false-negative class a reasoning model writes, and their near misses.

Each class has responses that must pass and responses a lax grader would accept but must not:
the last answer marker wins whichever kind it is, a span that names the unknown gives its
value, answers spread over several boxes or spans are joined when the gold lists several,
and no number is read from inside an identifier. Answer-level forms of the other classes
(named and chained answers, inequalities, ratios, percent words, decimal commas) are in the
equivalence table (tests/data/math_pairs.py), boxed inside a short trace.
"""

from __future__ import annotations

import pytest

from verifiers.math.grade import grade

REASONING = (
    "<think>Maybe $\\boxed{17}$? Let me check properly.</think>\n"
    "Let me set up the problem. We have $a_n = a_1 + (n-1)d$, and checking $n = 2$ gives "
    "$a_1 + d$, so 2 terms remain. The constraint $x^2 + y^2 = 25$ with $x + y = 7$ rules "
    "some cases out.\n\n"
)
# Classes whose responses end in an explicit marker also keep it after an intermediate box.
MARKED = ("last_marker_wins", "several_answers")
BOXED_REASONING = REASONING + "A first guess is $\\boxed{17}$, to be checked.\n\n"

PASS = {
    "last_marker_wins": [
        (r"First guess \boxed{310}. Wait, recheck... The final answer is $2,310$.", "2310"),
        (r"So \boxed{12}. Actually, I made an arithmetic error. The answer is 15.", "15"),
        (r"That gives \boxed{5}.\n\nFinal Answer: 7", "7"),
        (r"Hmm, \boxed{4} then \boxed{6}? Rechecking, the answer is $x = 9$.", "9"),
        (r"We found $\boxed{3}$ earlier.\n\n**Answer:** $\frac{7}{2}$", "3.5"),
        (r"The answer is $\boxed{5}$.", "5"),
        (r"The answer is 3? Let me check once more: \boxed{4}", "4"),
        (r"\boxed{12}. Note the answer is not 13.", "12"),
        ("\\boxed{12}\n\nThis answer is consistent with the constraint.", "12"),
        (r"Answer: \boxed{8}", "8"),
        (r"Partial: \boxed{1}. Therefore, the final answer is $\dfrac{1}{2}$.", "0.5"),
        (r"\boxed{310} so far. **Final answer:** 2,310", "2310"),
        (r"\boxed{310} so far... The final answer is 2,310 dollars.", "2310"),
        (r"Thus \boxed{4}, so the answer is **15**.", "15"),
    ],
    "value_over_name": [
        ("The smallest $k$ is 12.", "12"),
        ("So the minimum of $f(x)$ is 3.", "3"),
        ("Hence $x_1$ equals 7.", "7"),
        ("Thus $n$ must be at least 12.", "12"),
        ("Therefore $k$ is $\\frac{3}{4}$.", r"\frac34"),
        ("So the answer is: the largest $m$ is 9.", "9"),
        ("So the answer is Bob left 5 minutes later.", "5"),
        ("The answer is that 7 people came to the party.", "7"),
        ("Therefore, the value of $n$ is $24$.", "24"),
        ("In total $N = 40$.", "40"),
        (r"So $\overline{AB} = 5$.", "5"),
        (r"So $\angle ABC = 30^\circ$.", "30"),
        (r"$$\text{Total} = 5 \times 4 = 20$$", "20"),
        (r"\boxed{\text{Area}=12}", "12"),
    ],
    "several_answers": [
        (r"So \boxed{-4, 3}.", r"\boxed{3} and \boxed{-4}"),
        (r"So \boxed{3, -4}.", r"$x = \boxed{3}$ or $x = \boxed{-4}$"),
        (r"The roots are $\boxed{-4}$ and $\boxed{3}$.", "3, -4"),
        (r"$x = \boxed{3}$ or $x = \boxed{-4}$", "-4, 3"),
        (r"\boxed{(x, y) = (2, 9) \quad\text{and}\quad (9, 2)}", "(2, 9), (9, 2)"),
        ("(a) The area is \\boxed{5}.\n\nMuch more work for part (b)...\n\n(b) \\boxed{7}", "5, 7"),
        ("Part 1 gives $\\boxed{2}$. For part 2, after a long detour, $\\boxed{\\frac12}$.",
         r"2, \frac{1}{2}"),
    ],
    "several_spans": [
        ("The solutions are $x = 3$ and $x = -4$.", "3, -4"),
        ("So the pairs are $(1, 2)$ and $(2, 1)$.", "(1,2), (2,1)"),
        ("We get $a = 2$, and also $b = 5$.", "2, 5"),
        ("We get $a = 4$ and $b = 1$.", "(4,1)"),
        (r"So $x < 3$ or $x > 5$.", r"(-\infty,3)\cup(5,\infty)"),
        (r"\boxed{x < 3 \text{ or } x > 5}", r"(-\infty,3)\cup(5,\infty)"),
    ],
    "numbers_in_text": [
        ("After adding 3 apples to 4 apples we have 7 apples.", "7"),
        ("The code QWERTY7B is irrelevant; we need 12 of them.", "12"),
        ("So there are 5 cars and 3 of them are red, giving 3", "3"),
        ("The answer is 3,75.", "3.75"),
        ("A careful count gives 2,310 handshakes", "2310"),
    ],
    "matrix_in_a_chain": [
        (r"$$A + B = \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}$$",
         r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"),
        (r"So $\mathbf{M} = \begin{pmatrix} 0 & 1 \\ 1 & 0 \end{pmatrix}$.",
         r"\begin{bmatrix} 0 & 1 \\ 1 & 0 \end{bmatrix}"),
        (r"\boxed{A^2 = A \cdot A = \begin{pmatrix} 7 & 10 \\ 15 & 22 \end{pmatrix}}",
         r"\begin{pmatrix} 7 & 10 \\ 15 & 22 \end{pmatrix}"),
    ],
}  # fmt: skip

FAIL = {
    "last_marker_wins": [
        (r"First guess \boxed{310}. Wait, recheck... The final answer is $2,310$.", "310"),
        (r"So \boxed{12}. Actually, I made an arithmetic error. The answer is 15.", "12"),
        (r"\boxed{12}. Note the answer is not 13.", "13"),
        (r"The answer is 3? Let me check once more: \boxed{4}", "3"),
    ],
    "value_over_name": [
        ("The smallest $k$ is 12.", "13"),
        ("The smallest $k$ is 12.", "k"),
        ("The answer is 3 apples and 4 oranges.", "3"),
        ("So the minimum of $f(x)$ is 3.", "f(x)"),
    ],
    "several_answers": [
        ("(a) \\boxed{5}\n\n(b) \\boxed{8}", "5, 7"),
        ("(a) \\boxed{7}\n\n(b) \\boxed{5}", "(5, 7)"),
        (r"So \boxed{7}.", "5, 7"),
        (r"So \boxed{3}.", r"\boxed{3} and \boxed{-4}"),
        (r"$x = \boxed{3}$ or $x = \boxed{4}$", "-4, 3"),
    ],
    "several_spans": [
        ("The solutions are $x = 3$ and $x = 4$.", "3, -4"),
        ("So the pairs are $(1, 2)$ and $(2, 2)$.", "(1,2), (2,1)"),
        ("We get $a = 1$ and $b = 4$.", "(4,1)"),
        (r"\boxed{x \le 3 \text{ or } x > 5}", r"(-\infty,3)\cup(5,\infty)"),
        (r"\boxed{x > 3 \text{ and } x < 5}", r"(-\infty,3)\cup(5,\infty)"),
    ],
    "numbers_in_text": [
        ("The code is QWERTY7B", "7"),
        ("Call the point P2 and the line L3", "3"),
        ("She finished 5th in the race", "5"),
        ("Version 3.5x of the tool", "3"),
        (r"\boxed{310} so far. The answer is not 2,310 dollars.", "2310"),
        ("A careful count gives 2,310 handshakes", "2.31"),
    ],
    "matrix_in_a_chain": [
        (r"$$A + B = \begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}$$",
         r"\begin{pmatrix} 1 & 2 \\ 4 & 3 \end{pmatrix}"),
        (r"\boxed{A^2 = A \cdot A = \begin{pmatrix} 7 & 10 \\ 15 & 22 \end{pmatrix}}",
         r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"),
    ],
}  # fmt: skip


def _cases(table: dict[str, list[tuple[str, str]]]) -> list:
    return [
        pytest.param(
            response, gold, BOXED_REASONING if group in MARKED else REASONING, id=f"{group}-{index}"
        )
        for group, pairs in table.items()
        for index, (response, gold) in enumerate(pairs)
    ]


def test_every_class_has_many_examples_and_near_misses() -> None:
    assert set(PASS) == set(FAIL)
    assert all(len(PASS[group]) >= 3 and len(FAIL[group]) >= 2 for group in PASS)


@pytest.mark.parametrize(("response", "gold", "reasoning"), _cases(PASS))
def test_class_passes(response: str, gold: str, reasoning: str) -> None:
    verdict = grade(response, gold)
    assert verdict.status == "passed", verdict
    in_a_trace = grade(reasoning + response, gold)
    assert in_a_trace.status == "passed", in_a_trace


@pytest.mark.parametrize(("response", "gold", "reasoning"), _cases(FAIL))
def test_near_miss_fails(response: str, gold: str, reasoning: str) -> None:
    verdict = grade(response, gold)
    assert verdict.status in ("wrong_answer", "no_answer"), verdict
    assert not grade(reasoning + response, gold).passed


@pytest.mark.parametrize(
    ("response", "answer", "method"),
    [
        (r"\boxed{310} ... The final answer is $2,310$.", "2,310", "answer_phrase"),
        (r"\boxed{12}. Note the answer is not 13.", "12", "boxed"),
        ("The smallest $k$ is 12.", "12", "latex"),
        ("So the answer is Bob left 5 minutes later.", "5", "answer_phrase"),
        ("The code is QWERTY7B", None, None),
        ("I got x2 and y3 but no total", None, None),
    ],
)
def test_extracted_answer_and_method(response: str, answer: str | None, method: str | None):
    verdict = grade(response, "1")
    assert (verdict.answer, verdict.method.split("/")[0] or None) == (answer, method)
