"""Multiple choice: letter extraction, seeded shuffles with a uniform key, verification."""

from __future__ import annotations

from collections import Counter

import pytest

from verifiers.mcq import extract_letter, shuffle_choices, verify

LETTERS = [
    # explicit answer phrases
    ("The answer is (B)", "B"),
    ("The answer is (B).", "B"),
    ("Final answer: **D**", "D"),
    ("**Final Answer:** (C)", "C"),
    ("Answer: b", "B"),
    ("answer: (c)", "C"),
    ("answer is A", "A"),
    ("The correct option is C", "C"),
    ("The best answer is D.", "D"),
    ("Therefore, the answer is D) 5 m/s", "D"),
    ("Option A looks tempting, but the answer is option D.", "D"),
    ("A careful look rules out the rest. The answer is C.", "C"),
    ("A is wrong and so is B.\n\nAnswer: (A)", "A"),
    ("Answer: $\\text{(B)}$", "B"),
    # boxed letters
    (r"So the final answer is $\boxed{B}$", "B"),
    (r"\boxed{\text{(A)}}", "A"),
    (r"\boxed{\textbf{D}}", "D"),
    (r"\boxed{C) 3.2 eV}", "C"),
    # a final line that is only the letter
    ("**B**", "B"),
    ("B) 42 kg", "B"),
    ("(C)", "C"),
    ("C", "C"),
    ("First I thought (A). Then I realised...\n\n**C**", "C"),
    # after </think>, the reasoning is not read
    ("<think>The answer is (A).</think>\nThe correct answer is (C).", "C"),
    ("<think>Option D fits, the answer is D.</think>\n\n**B**\n\nBecause the spin is 1/2.", "B"),
    ("<think>(A)? (D)?</think>B) 42 kg, since the mass is conserved.", "B"),
]

# Traps: letters mentioned in the reasoning must never be read as the answer.
TRAPS = [
    ("Option D is tempting, since D matches the units. But checking the sign, the answer is B.",
     "B"),
    ("The answer is B. Option D would need a negative mass, so D is out.", "B"),
    ("Answer: B\n\nWhy not (D)? Because (D) double counts the spin states.", "B"),
    ("I first boxed \\boxed{D}, but that was wrong. The correct answer is (B).", "B"),
    ("The answer is (D)... wait, no. Final answer: \\boxed{B}", "B"),
    ("<think>The answer is clearly (D).</think>\nAnswer: B", "B"),
    ("Let me compare (A), (C) and (D): (D) fails, (C) fails.\n\nThe answer is (B).", "B"),
]  # fmt: skip


@pytest.mark.parametrize(("response", "letter"), TRAPS)
def test_letters_in_the_reasoning_are_not_the_answer(response: str, letter: str) -> None:
    assert extract_letter(response) == letter
    assert verify(response, letter).passed
    assert verify(response, "D").status == "wrong_answer"


@pytest.mark.parametrize(("response", "letter"), LETTERS)
def test_extract_letter(response: str, letter: str) -> None:
    assert extract_letter(response) == letter


@pytest.mark.parametrize(
    "response",
    [
        "A lot of thinking here without a choice.",
        "The answer is a bit unclear to me.",
        "",
        "I cannot decide.",
        "Between (A) and (C), option (C) seems closer.",  # mentions only, no final answer
        "Option D is tempting, but I am not sure.",
        "<think>The answer is (B).</think>",  # the answer is only in the reasoning
        r"\boxed{E = mc^2} gives the energy",
    ],
)
def test_no_letter(response: str) -> None:
    assert extract_letter(response) is None
    assert verify(response, "A").status == "no_answer"


def test_verify_statuses() -> None:
    passed = verify("The answer is (B)", "b")
    assert (passed.status, passed.answer, passed.method) == ("passed", "B", "answer_phrase")
    wrong = verify("**C**", "B")
    assert (wrong.status, wrong.answer) == ("wrong_answer", "C")
    assert wrong.detail == "expected B, got C"
    unfinished = verify("<think>The answer is (B)", "B")
    assert unfinished.status == "no_answer" and "think" in unfinished.detail
    with pytest.raises(ValueError, match="correct_letter"):
        verify("B", "BB")


def test_shuffle_is_seeded_and_keeps_the_key() -> None:
    choices = ["3.2 eV", "1.1 eV", "0.5 eV", "7 eV"]
    options, key = shuffle_choices(choices, "3.2 eV", seed=11)
    assert sorted(options) == sorted(choices)
    assert options["ABCD".index(key)] == "3.2 eV"
    assert shuffle_choices(choices, "3.2 eV", seed=11) == (options, key)
    assert choices == ["3.2 eV", "1.1 eV", "0.5 eV", "7 eV"]  # the input is not mutated


def test_correct_letter_is_uniform_over_seeds() -> None:
    """GPQA lists the correct answer first; after shuffling, no letter is favoured: the
    chi-square statistic of the correct letter's counts over 4000 seeds (3 degrees of freedom)
    stays below 16.27, its 0.1% critical value."""
    choices = ["right", "wrong 1", "wrong 2", "wrong 3"]
    for base in (0, 10**6, 2**31):  # any question's seed range, sample after sample
        counts = Counter(shuffle_choices(choices, "right", base + i)[1] for i in range(4000))
        expected = 4000 / 4
        chi_square = sum((counts[letter] - expected) ** 2 / expected for letter in "ABCD")
        assert chi_square < 16.27, counts


def test_always_answering_d_scores_a_quarter() -> None:
    """Evalchemy's GPQA shuffle put the key at D for every question; here D is right 1 in 4."""
    choices = ["right", "wrong 1", "wrong 2", "wrong 3"]
    keys = [shuffle_choices(choices, "right", seed)[1] for seed in range(4000)]
    score = sum(verify("The answer is (D)", key).passed for key in keys) / len(keys)
    assert abs(score - 0.25) < 6 * (0.25 * 0.75 / len(keys)) ** 0.5


def test_shuffle_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    choices = ["w", "x", "y", "z"]
    orders = [tuple(shuffle_choices(choices, "w", seed)[0]) for seed in range(200)]
    assert orders == [tuple(shuffle_choices(choices, "w", seed)[0]) for seed in range(200)]
    assert len(set(orders)) == 24  # every permutation of 4 options occurs


def test_shuffled_key_verifies_the_shuffled_answer() -> None:
    choices = ["right", "wrong 1", "wrong 2", "wrong 3"]
    for seed in range(20):
        options, key = shuffle_choices(choices, "right", seed)
        picked = "ABCD"[options.index("right")]
        assert verify(f"The answer is ({picked})", key).passed
        other = next(letter for letter in "ABCD" if letter != key)
        assert verify(f"The answer is ({other})", key).status == "wrong_answer"


def test_shuffle_rejects_bad_items() -> None:
    with pytest.raises(ValueError, match="exactly one of the options"):
        shuffle_choices(["a", "b", "c"], "d", seed=1)
    with pytest.raises(ValueError, match="exactly one of the options"):
        shuffle_choices(["a", "a", "c"], "a", seed=1)
    with pytest.raises(ValueError, match="2 to 10 options"):
        shuffle_choices(["a"], "a", seed=1)
