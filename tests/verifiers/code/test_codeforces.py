"""Real data: Codeforces stdin/stdout problems from the shared set, with solutions written here
in Python and C++, pass their tests through the Docker sandbox; broken ones fail precisely."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandbox import Pool
from tests.helpers import shared_file
from verifiers.code import CodeVerifier

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="session")]

# Each problem is found by a phrase of its statement, so the data may be reordered.
PYTHON = {
    "minimum of $x$ and $y$, followed by the maximum": """
t = int(input())
for _ in range(t):
    x, y = map(int, input().split())
    print(min(x, y), max(x, y))
""",
    "minimum number of pieces you need to cut it into": """
for _ in range(int(input())):
    s = input().strip()
    changes = sum(a != b for a, b in zip(s, s[1:]))
    print(changes + 1 - ("01" in s))
""",
    "greater than or equal to $r$ but strictly less than $r+1$": """
from math import isqrt
for _ in range(int(input())):
    r = int(input())
    total = 0
    for x in range(-r, r + 1):
        low_square = r * r - x * x
        low = isqrt(low_square) + (isqrt(low_square) ** 2 < low_square) if low_square > 0 else 0
        high = isqrt((r + 1) ** 2 - x * x - 1)
        total += 2 * high + 1 if low == 0 else 2 * (high - low + 1)
    print(total)
""",
    "removes the coin, and flips the two coins": """
for _ in range(int(input())):
    input()
    print("YES" if input().count("U") % 2 else "NO")
""",
    "Each screen is represented as a grid of size $5 \\\\times 3$": """
for _ in range(int(input())):
    x, y = map(int, input().split())
    print(max((y + 1) // 2, (x + 4 * y + 14) // 15))
""",
    "there should be no digit that comes after a letter": """
for _ in range(int(input())):
    input()
    s = input().strip()
    print("YES" if s == "".join(sorted(s)) else "NO")
""",
}
# Both C++ problems read t cases of two integers x, y; only what is printed differs.
PAIRS_CPP = """
#include <algorithm>
#include <iostream>
int main() {
  int t, x, y;
  std::cin >> t;
  while (t--) {
    std::cin >> x >> y;
    std::cout << OUTPUT << '\\n';
  }
}
"""
CPP = {
    "minimum of $x$ and $y$, followed by the maximum": PAIRS_CPP.replace(
        "OUTPUT", "std::min(x, y) << ' ' << std::max(x, y)"
    ),
    "Each screen is represented as a grid of size $5 \\\\times 3$": PAIRS_CPP.replace(
        "OUTPUT", "std::max((y + 1) / 2, (x + 4 * y + 14) / 15)"
    ),
}


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return json.loads(shared_file("code/codeforces.json").read_text())


def find(problems: list[dict], phrase: str) -> dict:
    [problem] = [p for p in problems if phrase.replace("\\\\", "\\") in p["problem"]]
    return problem


@pytest.mark.parametrize(("language", "solutions"), [("python", PYTHON), ("cpp", CPP)])
async def test_our_solutions_pass(
    docker_pool: Pool, problems: list[dict], language: str, solutions: dict[str, str]
) -> None:
    verifier = CodeVerifier(docker_pool)
    chosen = [(find(problems, phrase), source) for phrase, source in solutions.items()]
    verdicts = await asyncio.gather(
        *(verifier.verify(f"```{language}\n{source}```", p["tests"]) for p, source in chosen)
    )
    assert [v.status for v in verdicts] == ["passed"] * len(chosen), verdicts


async def test_broken_solutions_fail_precisely(docker_pool: Pool, problems: list[dict]) -> None:
    verifier = CodeVerifier(docker_pool)
    problem = find(problems, "minimum of $x$ and $y$, followed by the maximum")
    tests = problem["tests"]
    swapped = PYTHON["minimum of $x$ and $y$, followed by the maximum"].replace(
        "min(x, y), max(x, y)", "max(x, y), min(x, y)"
    )
    verdict = await verifier.verify(f"```python\n{swapped}```", tests)
    assert (verdict.status, verdict.test_index) == ("wrong_answer", 0)
    assert verdict.detail == "test 0: token 1: expected '1', got '9'"
    first_line_only = (
        "t = int(input())\nx, y = map(int, input().split())\nprint(min(x, y), max(x, y))"
    )
    verdict = await verifier.verify(f"```python\n{first_line_only}\n```", tests)
    assert verdict.status == "wrong_answer" and "got end of output" in verdict.detail
