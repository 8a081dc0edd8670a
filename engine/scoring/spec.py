"""The ``[scorer]`` config section and the typed reason a question ends up without a score."""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.records import Domain, Failure
from engine.scoring.rubric import difficulty_rubric
from engine.specs import PromptSpec, TeacherSpec

ScoreMethod = Literal["difficulty", "length", "none"]


class ScorerSpec(TeacherSpec):
    """A scorer backend (every ``[teacher]`` key, e.g. a cheap model) and how domains are scored.

    methods: per domain; a domain not listed is not scored (OT3: code by difficulty, math and
    science by response length). rubric: the difficulty prompt, ``{problem}`` in ``user``.
    answer_prompt: the prompt of the one answer the length scorer samples. rating_max_tokens and
    answer_max_tokens: reply budgets of the two. Each request's seed is derived from ``seed`` and
    the question id. The stages' concurrency is ``max_in_flight``.
    """

    methods: dict[Domain, ScoreMethod] = msgspec.field(default_factory=dict)
    rubric: PromptSpec = msgspec.field(default_factory=difficulty_rubric)
    answer_prompt: PromptSpec = msgspec.field(default_factory=PromptSpec)
    rating_max_tokens: int = 1024
    answer_max_tokens: int = 16384
    temperature: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, prompt in (("rubric", self.rubric), ("answer_prompt", self.answer_prompt)):
            if "{problem}" not in prompt.user:
                raise ValueError(f"scorer {name}.user must contain {{problem}}")
        if min(self.rating_max_tokens, self.answer_max_tokens) < 1:
            raise ValueError("scorer rating_max_tokens and answer_max_tokens must be >= 1")

    def method(self, domain: str) -> ScoreMethod:
        return self.methods.get(domain, "none")  # type: ignore[call-overload]


UnscoredReason = Literal[
    "backend",  # the scorer request failed for good (see ``failure``)
    "truncated",  # the rating reply hit rating_max_tokens before its rating
    "no_rating",  # the reply holds no number on the scale
    "out_of_range",  # the reply gives a rating off the scale
    "unfinished_thinking",  # the reply ends inside a <think> block
    "empty",  # the sampled answer is empty (length scorer)
]


class Unscored(msgspec.Struct, kw_only=True, tag="unscored"):
    """Why a question got no score from a scoring stage (for its exclusion record)."""

    question_id: str
    stage: str
    reason: UnscoredReason
    detail: str = ""
    failure: Failure | None = None
