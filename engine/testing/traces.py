"""Reasoning-like text for the mock's replies, built from pools of sentences whose token counts
are known, so a 16 KiB trace costs a few dozen microseconds and no tokenizer pass.

Math traces carry equations, slips and corrections, and intermediate ``\\boxed{}`` values (as
real traces do); code traces talk about algorithms. Neither contains a fenced block, so a trace
never offers the code extractor a program.
"""

from __future__ import annotations

import functools
import random

from engine.testing.tokens import count_tokens

_MATH = (
    "Let me restate the problem to make sure I understand what is being asked.",
    "Suppose $x = {a}$. Then $x^2 = {a2}$, and adding {b} gives ${a2b}$.",
    "Wait, that does not look right. Let me recompute ${a} \\times {b}$: it is ${ab}$.",
    "So far the candidate is $\\boxed{{{c}}}$, but I should double-check it.",
    "Alternatively, substitute $u = {a}x + {b}$, so that $du = {a}\\,dx$.",
    "For $n = {a}$ the sum $1 + 2 + \\dots + n$ is ${tri}$, matching $\\frac{{n(n+1)}}{{2}}$.",
    "Hmm, maybe there is a cleaner way to see this.",
    "\\[ \\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}} = \\frac{{{adbc}}}{{{bd}}} \\]",
    "Let me check the edge case where the variable is zero; nothing breaks there.",
    "Factoring gives $(x - {a})(x + {b}) = x^2 + {bma}x - {ab}$.",
    "That agrees with the estimate from before, so the approach seems consistent.",
    "By symmetry, it is enough to consider the case $a \\le b$.",
    "Taking this modulo {d}, the residue is ${r}$.",
    "I will set up the relevant quantities and the relations between them first.",
    "Now simplify the expression step by step.",
    "Actually, wait: ${a} + {b} = {apb}$, not ${apb1}$. I made an arithmetic slip.",
    "The discriminant is ${b}^2 - 4 \\cdot {a} \\cdot {c} = {disc}$.",
    "If the answer were $\\boxed{{{b}}}$, the check with the second condition would fail.",
)
_CODE = (
    "Let me read the statement again and note the limits on the input size.",
    "A brute force over all pairs is $O(n^2)$, too slow for $n$ up to $10^{e}$.",
    "Sorting first costs $O(n \\log n)$ and then one linear pass is enough.",
    "Let me trace the sample by hand: with {a} and {b} the expected output is {ab}.",
    "Keep a running prefix sum `pre[i]` so that each range query is $O(1)$.",
    "Wait, the indices are 1-based in the statement; I must shift them by one.",
    "A dictionary from value to its last position handles the duplicates.",
    "The recurrence is `dp[i] = max(dp[i - 1], dp[i - 2] + a[i])`, starting from `dp[0] = a[0]`.",
    "Edge case: an empty array or a single element; the loop must not run then.",
    "Reading all input at once with `sys.stdin` is faster than calling `input()` per line.",
    "The answer can exceed $2^{{31}}$, so use 64-bit integers or Python's big integers.",
    "Hmm, a greedy choice fails on {a} {b} {c}; dynamic programming is safer here.",
    "Binary search on the answer works because the predicate is monotone.",
    "Let me double-check the off-by-one at the boundary: the range is inclusive.",
)


def _render(template: str, rng: random.Random) -> str:
    a, b, c, d = rng.randint(2, 40), rng.randint(2, 40), rng.randint(1, 99), rng.randint(3, 17)
    values = dict(a=a, b=b, c=c, d=d, a2=a * a, a2b=a * a + b, ab=a * b, tri=a * (a + 1) // 2)
    values |= dict(adbc=a * d + b * c, bd=b * d, bma=b - a, r=(a * b) % d, apb=a + b)
    values |= dict(apb1=a + b + 1, disc=b * b - 4 * a * c, e=rng.randint(5, 6))
    return template.format(**values)


@functools.cache
def _pool(domain: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Several hundred rendered sentences of one domain and their token counts."""
    rng = random.Random(f"mock-trace-{domain}")
    templates = _CODE if domain == "code" else _MATH
    sentences = tuple(_render(t, rng) for _ in range(32) for t in templates)
    return sentences, tuple(count_tokens(s) for s in sentences)


def trace(rng: random.Random, size: int, domain: str = "math") -> tuple[str, int]:
    """About ``size`` bytes of reasoning (paragraphs of a few sentences) and its token count."""
    sentences, counts = _pool(domain)
    parts, length, tokens, draw = [], 0, 0, rng.random
    while length < size:
        pick = draw() * len(sentences)
        index = int(pick)
        parts.append(sentences[index])
        parts.append("\n\n" if pick - index < 0.2 else " ")  # a paragraph ends, one in five
        length += len(sentences[index]) + 1
        tokens += counts[index]
    return "".join(parts[:-1]), tokens


_FILLER = (
    "Let me restate the problem and identify what is being asked.",
    "I will set up the relevant quantities and relations first.",
    "Checking a small case helps confirm the pattern.",
    "Now simplify the expression step by step.",
    "Wait, let me double-check that computation.",
    "That agrees with the earlier estimate, so the approach is consistent.",
)
_FILLER_TOKENS = {s: count_tokens(s) for s in _FILLER}


def filler(rng: random.Random, tokens: int) -> tuple[str, int]:
    """Plain thoughts of about ``tokens`` tokens (uniform in half to one and a half times)."""
    steps = max(1, int(tokens / 12 * rng.uniform(0.5, 1.5)))
    picks = rng.choices(_FILLER, k=steps)
    return " ".join(picks), sum(map(_FILLER_TOKENS.__getitem__, picks))


_RAMBLE = "Wait, let me reconsider the previous step once more, because something is off. "


@functools.cache
def megabyte() -> tuple[str, int]:
    """A mebibyte of looping, digit-free text (a runaway generation) and its token count."""
    text = _RAMBLE * (2**20 // len(_RAMBLE) + 1)
    return text, count_tokens(text)
