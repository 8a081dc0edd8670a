"""Program extraction from model responses: the last fenced block of the right language."""

from __future__ import annotations

import pytest

from verifiers.code.extract import extract_program

PY_THEN_CPP = "First:\n```python\nprint(1)\n```\nBetter:\n```cpp\nint main() {}\n```\n"


def test_last_block_of_the_asked_language() -> None:
    response = "```python\nprint('draft')\n```\ntext\n```py\nprint('final')\n```\n```text\nout\n```"
    extracted = extract_program(response, "python")
    assert extracted is not None
    assert (extracted.language, extracted.source, extracted.method) == (
        "python",
        "print('final')\n",
        "fenced",
    )


def test_language_is_inferred_from_the_last_tagged_block() -> None:
    extracted = extract_program(PY_THEN_CPP)
    assert extracted is not None and extracted.language == "cpp"
    assert extracted.source == "int main() {}\n"


def test_asking_for_a_language_skips_blocks_of_others() -> None:
    extracted = extract_program(PY_THEN_CPP, "python")
    assert extracted is not None and extracted.source == "print(1)\n"
    assert extract_program("```cpp\nint main() {}\n```", "python") is None


def test_untagged_block_is_the_fallback_and_python_by_default() -> None:
    extracted = extract_program("Here:\n```\nprint(2)\n```\n```json\n{}\n```")
    assert extracted is not None
    assert (extracted.language, extracted.method) == ("python", "untagged")
    untagged_cpp = extract_program("```\nint main() {}\n```", "c++")
    assert untagged_cpp is not None and untagged_cpp.language == "cpp"


def test_blocks_after_the_reasoning_win() -> None:
    response = (
        "<think>```python\nprint('idea')\n```</think>\nAnswer:\n```python\nprint('answer')\n```"
    )
    extracted = extract_program(response + "\n")
    assert extracted is not None and extracted.source == "print('answer')\n"


def test_reasoning_blocks_count_when_nothing_follows() -> None:
    extracted = extract_program("<think>\n```python\nprint('only')\n```\n</think>\nDone.")
    assert extracted is not None and extracted.source == "print('only')\n"


def test_cut_off_response_keeps_its_unclosed_block() -> None:
    extracted = extract_program("```python\nprint(3)\nprint(4)")
    assert extracted is not None
    assert (extracted.source, extracted.method) == ("print(3)\nprint(4)\n", "unclosed")


def test_longer_and_tilde_fences_hold_inner_fences() -> None:
    response = '````python\ns = """\n```\n"""\nprint(s)\n````\n~~~cpp\nint main() {}\n~~~'
    python = extract_program(response, "python")
    assert python is not None and python.source == 's = """\n```\n"""\nprint(s)\n'
    cpp = extract_program(response)
    assert cpp is not None and cpp.language == "cpp"


@pytest.mark.parametrize(
    "response", ["", "Just prose: print(1)", "```python\n\n```", "```\n   \n```"]
)
def test_no_block_is_no_answer(response: str) -> None:
    assert extract_program(response) is None


def test_an_unknown_language_is_an_error_not_no_answer() -> None:
    with pytest.raises(ValueError, match="unknown language 'java'"):
        extract_program("```java\nclass A {}\n```", "java")
