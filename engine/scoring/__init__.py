"""LLM-scored filters: difficulty ratings and response length, as pipeline stages."""

from engine.scoring.rating import NoRating, Rating, parse_rating
from engine.scoring.rubric import RATING_LINE, difficulty_rubric
from engine.scoring.spec import ScoreMethod, ScorerSpec, Unscored
from engine.scoring.stages import DifficultyScorer, LengthScorer, ScoreStage, scoring_stages

__all__ = [
    "RATING_LINE",
    "DifficultyScorer",
    "LengthScorer",
    "NoRating",
    "Rating",
    "ScoreMethod",
    "ScoreStage",
    "ScorerSpec",
    "Unscored",
    "difficulty_rubric",
    "parse_rating",
    "scoring_stages",
]
