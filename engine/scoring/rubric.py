"""The default difficulty rubric (OpenThoughts3 rated code questions 1-10 on an ICPC-like scale).

The problem sits between ``<problem>`` tags so a problem that itself talks about ratings cannot
be mistaken for the instruction, and the reply ends in one fixed line, ``Difficulty: N``.
"""

RATING_LINE = "Difficulty: N"
PROBLEM_OPEN, PROBLEM_CLOSE = "<problem>", "</problem>"

RUBRIC_SYSTEM = (
    "You are an experienced competitive programmer and problem setter who rates difficulty."
)

RUBRIC_USER = f"""\
Rate how hard the programming problem below is, from 1 (easiest) to 10 (hardest). \
Judge the insight and the implementation a correct solution within the stated limits needs; \
do not solve the problem, and do not rate a statement as harder for being long.

Scale (modelled on ICPC contests: regionals around 1-4, regional finals 4-7, world finals 7-10):
1: direct implementation: read the input, apply a formula or a single loop, print.
2: simple work on arrays or strings: counting, linear scans, library sorting, parity, \
divisibility, primes by trial division.
3: one standard technique used directly: binary search, two pointers, prefix sums, an obvious \
greedy, BFS/DFS on a given graph, a DP whose state is evident.
4: two standard ideas together or one that needs care: a less obvious DP transition, Dijkstra, \
union-find, careful case analysis, modular arithmetic.
5: standard advanced structures: segment or Fenwick trees, DP over a topological order, \
bitmask DP, minimum spanning trees, sieves and modular inverses.
6: a non-obvious state or reduction: DP on trees or intervals, shortest paths on a constructed \
graph, inclusion-exclusion, basic game theory.
7: advanced algorithms: flows and matchings, lazy propagation, heavy-light decomposition, \
suffix arrays, convex hull trick, computational geometry.
8: several non-obvious observations plus a heavy implementation: advanced number theory or \
geometry, tight limits.
9: expert material: multiple key insights with specialised algorithms (suffix automata, FFT, \
link-cut trees) and hard correctness proofs.
10: the hardest contest problems: new techniques or advanced ideas combined in ways no textbook \
covers, extreme optimisation.

{PROBLEM_OPEN}
{{problem}}
{PROBLEM_CLOSE}

Give your reasons in at most three sentences, then end with one line of the form \
"{RATING_LINE}", where N is an integer from 1 to 10."""
