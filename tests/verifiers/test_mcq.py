"""Multiple choice: letter extraction, seeded shuffles with a uniform key, verification."""

from __future__ import annotations

from collections import Counter

import pytest

from verifiers.mcq import extract_letter, shuffle_choices, verify

LETTERS = [
    ("The answer is (B)", "B"),
    ("The answer is (B).", "B"),
    ("**B**", "B"),
    ("Final answer: **D**", "D"),
    ("B) 42 kg", "B"),
    ("Answer: b", "B"),
    ("answer: (c)", "C"),
    ("answer is A", "A"),
    (r"So the final answer is $\boxed{B}$", "B"),
    (r"\boxed{\text{(A)}}", "A"),
    (r"\boxed{C) 3.2 eV}", "C"),
    ("(C)", "C"),
    ("C", "C"),
    ("Therefore, the answer is D) 5 m/s", "D"),
    ("The correct option is C", "C"),
    ("Option A looks tempting, but the answer is option D.", "D"),
    ("Between (A) and (C), I pick (C).", "C"),
    ("A careful look rules out the rest. The answer is C.", "C"),
    ("A is wrong and so is B.\n\nAnswer: (A)", "A"),
    ("<think>The answer is (A).</think>\nThe correct answer is (C).", "C"),
    ("First I thought (A). Then I realised...\n\n**C**", "C"),
]


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
    assert verify("<think>The answer is (B)", "B").status == "no_answer"
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
    """GPQA lists the correct answer first; after shuffling, no letter is favoured."""
    choices = ["right", "wrong 1", "wrong 2", "wrong 3"]
    counts = Counter(shuffle_choices(choices, "right", seed)[1] for seed in range(4000))
    assert set(counts) == set("ABCD")
    assert all(900 <= n <= 1100 for n in counts.values()), counts  # 1000 each, +-6 sigma


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
