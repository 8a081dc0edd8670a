"""The mock teacher's settings, declared once.

``MockOptions`` is the recipe's ``[mock_teacher]`` section, the source of the flags of
``python -m engine mock-teacher`` (one flag a field, its help the field's description) and the
whole of what a parent hands its mock subprocess (one JSON object). Constraints live in the types.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from engine.specs import Spec

Rate = Annotated[float, msgspec.Meta(ge=0, le=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
KiB = Annotated[float, msgspec.Meta(ge=0)]
HostileKind = Literal[
    "no_answer", "unterminated_think", "huge_exponent", "deep_nesting", "megabyte"
]
HOSTILE_KINDS: tuple[HostileKind, ...] = (
    "no_answer",
    "unterminated_think",
    "huge_exponent",
    "deep_nesting",
    "megabyte",
)


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class MockOptions(Spec):
    """Behaviour of the mock teacher. Rates are probabilities per request (faults) or per reply
    (answers); every reply is deterministic in (prompt, seed)."""

    answer_key: Annotated[
        bool | str,
        _doc(
            "true: answer from the questions the mock is started with (a recipe's own); "
            "a path: a JSON or JSONL file of rows {problem, answer, choices, solution, language}; "
            "false: no gold answers"
        ),
    ] = True
    correct_rate: Annotated[Rate, _doc("share of keyed replies whose final answer is correct")] = (
        0.7
    )
    hostile_rate: Annotated[
        Rate,
        _doc("share of keyed replies that are hostile (never correct); correct_rate + this <= 1"),
    ] = 0.0
    hostile_kinds: Annotated[
        tuple[HostileKind, ...],
        msgspec.Meta(min_length=1, description="the hostile replies to draw from, uniformly"),
    ] = HOSTILE_KINDS
    replies: Annotated[
        Literal["plain", "realistic"],
        _doc(
            "plain: filler thoughts then the gold (or a near miss) boxed; realistic: "
            "reasoning traces of trace_kb, answers as equivalent rewrites or near misses"
        ),
    ] = "plain"
    completion_tokens: Annotated[
        int, msgspec.Meta(ge=1, description="plain replies: about this many tokens each")
    ] = 200
    trace_kb: Annotated[
        tuple[KiB, KiB],
        _doc("realistic replies: reasoning trace length in KiB, uniform in [LO, HI]"),
    ] = (2.0, 16.0)
    latency_ms: Annotated[
        float, msgspec.Meta(ge=0, description="mean wait before a reply starts, in ms")
    ] = 0.0
    latency_dist: Annotated[
        Literal["fixed", "exponential", "uniform"],
        _doc("latency distribution: fixed, exponential, or uniform in [0, 2 x latency_ms]"),
    ] = "fixed"
    tokens_per_s: Annotated[
        float, msgspec.Meta(ge=0, description="decoding speed per reply; 0 is instant")
    ] = 0.0
    rpm: Annotated[Count, _doc("requests per minute before 429 + Retry-After; 0: no limit")] = 0
    tpm: Annotated[Count, _doc("tokens per minute before 429 + Retry-After; 0: no limit")] = 0
    error_rate: Annotated[Rate, _doc("share of requests answered 500")] = 0.0
    garbage_rate: Annotated[Rate, _doc("share of requests answered with a cut-off body")] = 0.0
    disconnect_rate: Annotated[Rate, _doc("share of requests whose connection is dropped")] = 0.0
    truncate_rate: Annotated[Rate, _doc("share of replies cut short (finish_reason length)")] = 0.0
    reject_n: Annotated[bool, _doc("answer 400 to n > 1, like servers without native n")] = False
    api_key: Annotated[
        str | None, _doc('when set, requests must carry "Authorization: Bearer KEY"')
    ] = None
    seed: Annotated[int, _doc("seed of the fault draws and of replies to unseeded requests")] = 0

    def __post_init__(self) -> None:
        if self.correct_rate + self.hostile_rate > 1:
            raise ValueError("correct_rate + hostile_rate must be at most 1")
        if self.trace_kb[0] > self.trace_kb[1]:
            raise ValueError("trace_kb must be [LO, HI] with LO <= HI")
