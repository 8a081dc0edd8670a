"""Program extraction from model responses: the last fenced block of the right language."""

from __future__ import annotations

import pytest

from verifiers.code.extract import Entry, extract_program

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


# -- the block a reader would run

SOLVE = "def solve(n):\n    return n * 2\n"
READS = "n = int(input())\nprint(n * 2)\n"
ADD = Entry(names=frozenset({"add"}))
SOLUTION_CLASS = Entry(names=frozenset({"Solution"}))
STDIN = Entry(reads_input=True)


@pytest.mark.parametrize(
    ("response", "entry", "source"),
    [
        (  # a function, then a usage example
            "```python\ndef add(a, b):\n    return a + b\n```\nFor example:\n"
            "```python\nprint(add(2, 3))  # 5\n```\n",
            ADD,
            "def add(a, b):\n    return a + b\n",
        ),
        (  # a LeetCode class, then a driver that builds it
            "```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n```\n"
            "Test it:\n```python\nsol = Solution()\nassert sol.add(1, 2) == 3\n```",
            SOLUTION_CLASS,
            "class Solution:\n    def add(self, a, b):\n        return a + b\n",
        ),
        (  # a stdin program, then a call of its helper on the sample
            f"```python\n{SOLVE}{READS}```\nOn the sample:\n```python\nprint(solve(3))\n```",
            STDIN,
            SOLVE + READS,
        ),
        (  # sys.stdin, then a demo tagged another way
            "```py\nimport sys\nprint(sum(map(int, sys.stdin.read().split())))\n```\n"
            "Then:\n```python3\nprint(sum([1, 2, 3]))\n```",
            STDIN,
            "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n",
        ),
        (  # open(0), then a one-line demo
            "```python\nprint(len(open(0).read().split()))\n```\n```python\nprint(len('a b'))\n```",
            STDIN,
            "print(len(open(0).read().split()))\n",
        ),
        (  # a lambda bound to the entry name counts as defining it
            "```python\nadd = lambda a, b: a + b\n```\n```python\nadd(1, 2)\n```",
            ADD,
            "add = lambda a, b: a + b\n",
        ),
        (  # C++: the block with main, not a later fragment
            '```cpp\n#include <cstdio>\nint main() { int n; scanf("%d", &n); }\n```\n'
            "The key line is\n```cpp\nans = max(ans, dp[i]);\n```",
            STDIN,
            '#include <cstdio>\nint main() { int n; scanf("%d", &n); }\n',
        ),
    ],
)
def test_a_trailing_usage_example_is_not_the_solution(
    response: str, entry: Entry, source: str
) -> None:
    extracted = extract_program(response, entry=entry)
    assert extracted is not None and extracted.source == source
    # without knowing what the tests need, the last block wins (the old rule)
    last = extract_program(response)
    assert last is not None and last.source != source


def test_of_several_solutions_the_last_wins() -> None:
    response = (
        "Brute force:\n```python\ndef add(a, b):\n    return sum([a, b])\n```\n"
        "Faster:\n```python\ndef add(a, b):\n    return a + b\n```\n"
        "Check:\n```python\nprint(add(1, 2))\n```"
    )
    extracted = extract_program(response, entry=ADD)
    assert extracted is not None and extracted.source == "def add(a, b):\n    return a + b\n"


def test_with_no_block_providing_the_entry_the_last_block_is_run() -> None:
    response = "```python\nprint('a')\n```\n```python\nprint('b')\n```"
    for entry in (ADD, STDIN):
        extracted = extract_program(response, entry=entry)
        assert extracted is not None and extracted.source == "print('b')\n"


@pytest.mark.parametrize(
    ("response", "source"),
    [
        (
            "Steps:\n1. Read the input and double it:\n   ```python\n   n = int(input())\n"
            "   if n > 0:\n       print(n * 2)\n   ```\n2. Done.",
            "n = int(input())\nif n > 0:\n    print(n * 2)\n",
        ),
        (  # a nested list, the closing fence less indented than the code
            "- Plan\n  - Code:\n      ```python\n      def f():\n          return 1\n  ```\n",
            "def f():\n    return 1\n",
        ),
        (  # the fence right after the marker, with a tab
            "*\t```python\n\tx = 1\n\tprint(x)\n\t```",
            "x = 1\nprint(x)\n",
        ),
        (
            "1. ```python\n   def f():\n       return 1\n   ```\n2. Next.",
            "def f():\n    return 1\n",
        ),
        (  # the fence at the margin, the whole code indented
            "```python\n    def f():\n        return 1\n    print(f())\n```",
            "def f():\n    return 1\nprint(f())\n",
        ),
        (  # a blank line inside a list-indented block, and a less indented string line
            "1. Code:\n    ```python\n    s = '''\nraw\n'''\n\n    print(s)\n    ```",
            "s = '''\nraw\n'''\n\nprint(s)\n",
        ),
    ],
)
def test_blocks_indented_in_list_items_are_dedented(response: str, source: str) -> None:
    extracted = extract_program(response)
    assert extracted is not None and extracted.source == source
    compile(extracted.source, "solution.py", "exec")


@pytest.mark.parametrize(
    ("fence", "language"),
    [
        ("```{.python}", "python"),
        ('```{.python .numberLines startFrom="1"}', "python"),
        ("``` {python}", "python"),
        ("```{python, echo=FALSE}", "python"),
        ("```{.cpp}", "cpp"),
        ("```py", "python"),
        ("```py3", "python"),
        ("```Python3", "python"),
        ("```PYTHON", "python"),
        ("``` python", "python"),
        ('```python title="solution.py"', "python"),
        ("```language-python", "python"),
        ("~~~ python", "python"),
        ("```cpp", "cpp"),
        ("```C++", "cpp"),
        ("```c++17", "cpp"),
        ("```cc", "cpp"),
    ],
)
def test_common_fence_tags(fence: str, language: str) -> None:
    close = fence[:3]
    extracted = extract_program(f"Solution:\n{fence}\nx = 1\n{close}\n")
    assert extracted is not None
    assert (extracted.language, extracted.source, extracted.method) == (
        language,
        "x = 1\n",
        "fenced",
    )


def test_tagged_blocks_of_other_languages_are_not_programs() -> None:
    response = "```python\nprint(1)\n```\n```bash\npython3 main.py < in.txt\n```\n```json\n{}\n```"
    extracted = extract_program(response, entry=STDIN)
    assert extracted is not None and extracted.source == "print(1)\n"
    with_output = "```python\nprint(int(input()))\n```\nOutput:\n```\n6\n```"
    extracted = extract_program(with_output, entry=STDIN)
    assert extracted is not None and extracted.source == "print(int(input()))\n"


def test_inline_triple_backticks_are_not_a_fence() -> None:
    response = "Run ```print(1)``` to see it.\n```python\nprint(2)\n```"
    extracted = extract_program(response)
    assert extracted is not None and extracted.source == "print(2)\n"


def test_an_untagged_cpp_program_is_run_as_cpp() -> None:
    extracted = extract_program("```\n#include <iostream>\nint main() { std::cout << 1; }\n```")
    assert extracted is not None and extracted.language == "cpp"


def test_crlf_line_ends() -> None:
    response = "Code:\r\n```python\r\nx = int(input())\r\nprint(x)\r\n```\r\nDone.\r\n"
    extracted = extract_program(response, entry=STDIN)
    assert extracted is not None and extracted.source == "x = int(input())\nprint(x)\n"


def test_a_main_guard_is_kept() -> None:
    source = 'def main():\n    print(input())\n\nif __name__ == "__main__":\n    main()\n'
    extracted = extract_program(
        f"```python\n{source}```\nUsage:\n```python\nmain()\n```", entry=STDIN
    )
    assert extracted is not None and extracted.source == source
