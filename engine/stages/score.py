"""Scoring stages: a scorer model rates each question's difficulty, or answers it once so the
answer's length can be its score. Scores land in ``question.scores`` (their provenance)."""

from __future__ import annotations

from engine.backends.base import Backend, BackendError, Completion, GenerationRequest
from engine.funnel import Funnel
from engine.pipeline import Emit
from engine.prompts import question_seed, render, with_options
from engine.records import Failure, Question, Score, Unscored, UnscoredReason
from engine.scoring.rating import NoRating, parse_rating
from engine.specs import PromptSpec, ScoreMethod, ScorerSpec
from engine.stages.exclusions import Exclusions


class ScoreStage:
    """Question -> the same question with one more Score, for the domains scored by ``method``.

    Questions of other domains, and questions that already carry this stage's score (replayed
    after a restart), pass on unchanged without a request. A question that cannot be scored is
    not emitted: it becomes an exclusion record with the typed reason.
    """

    name: str
    method: ScoreMethod
    drop_on_stop = True

    def __init__(self, spec: ScorerSpec, backend: Backend, exclusions: Exclusions):
        self.spec = spec
        self.backend = backend
        self.exclusions = exclusions
        self.concurrency = spec.max_in_flight
        self.funnel = Funnel()
        self.scored = 0

    @property
    def unscored(self) -> dict[str, int]:
        """Questions left without a score, by reason."""
        counts: dict[str, int] = {}
        for outcomes in self.funnel.counts["score"].values():
            for reason, amount in outcomes.items():
                counts[reason] = counts.get(reason, 0) + amount
        return counts

    async def process(self, question: Question, emit: Emit) -> None:
        if self.spec.method(question.domain) != self.method or any(
            score.stage == self.name for score in question.scores
        ):
            await emit(question)
            return
        try:
            generation = await self.backend.generate(self.request(question))
        except BackendError as error:
            failure = error.failure
            result: Score | Unscored = self.unscored_for(
                question, "backend", failure.detail, failure
            )
        else:
            result = self.score(question, generation.completions[0])
        if isinstance(result, Unscored):
            self.funnel.count("score", question.domain, result.reason)
            await self.exclusions.add(question, "score", result)
            return
        question.scores = [*question.scores, result]
        self.scored += 1
        await emit(question)

    def request(self, question: Question) -> GenerationRequest:
        raise NotImplementedError

    def score(self, question: Question, completion: Completion) -> Score | Unscored:
        raise NotImplementedError

    def _request(
        self, prompt: PromptSpec, question: Question, max_tokens: int
    ) -> GenerationRequest:
        problem = question.problem
        if question.choices:
            problem = with_options(question, question.choices)
        seed = question_seed(self.spec.seed, question.id)
        return GenerationRequest(render(prompt, problem), [seed], max_tokens, self.spec.temperature)

    def unscored_for(
        self,
        question: Question,
        reason: UnscoredReason,
        detail: str,
        failure: Failure | None = None,
    ) -> Unscored:
        return Unscored(
            question_id=question.id, stage=self.name, reason=reason, detail=detail, failure=failure
        )


class DifficultyScorer(ScoreStage):
    """Rates each question 1-10 with the rubric; the score is the rating (higher is harder)."""

    name = method = "difficulty"

    def request(self, question: Question) -> GenerationRequest:
        return self._request(self.spec.rubric, question, self.spec.rating_max_tokens)

    def score(self, question: Question, completion: Completion) -> Score | Unscored:
        if completion.finish_reason == "length":
            detail = f"reply cut at rating_max_tokens={self.spec.rating_max_tokens}"
            return self.unscored_for(question, "truncated", detail)
        rating = parse_rating(completion.text)
        if isinstance(rating, NoRating):
            return self.unscored_for(question, rating.reason, rating.detail)
        return Score(self.name, rating.value, f"{self.spec.model}: {rating.method}")


class LengthScorer(ScoreStage):
    """Samples one answer per question; the score is its completion tokens (longer is harder)."""

    name = method = "length"

    def request(self, question: Question) -> GenerationRequest:
        return self._request(self.spec.answer_prompt, question, self.spec.answer_max_tokens)

    def score(self, question: Question, completion: Completion) -> Score | Unscored:
        tokens, how = completion.completion_tokens, "completion_tokens"
        if not tokens:
            if not completion.text:
                return self.unscored_for(question, "empty", "the sampled answer is empty")
            tokens, how = max(1, len(completion.text) // 4), "characters/4 (no usage reported)"
        if completion.finish_reason == "length":
            how += f", cut at answer_max_tokens={self.spec.answer_max_tokens}"
        return Score(self.name, float(tokens), f"{self.spec.model}: {how}")


def scoring_stages(spec: ScorerSpec, backend: Backend, exclusions: Exclusions) -> list[ScoreStage]:
    """The stages the spec's methods need, difficulty before length; none when nothing is scored."""
    used = set(spec.methods.values())
    return [
        stage(spec, backend, exclusions)
        for stage in (DifficultyScorer, LengthScorer)
        if stage.method in used
    ]
