"""What flows between the sampling stages: Question -> plan -> Work -> generate -> Item ->
verify -> Item -> write."""

from __future__ import annotations

import msgspec

from engine.backends.base import GenerationRequest
from engine.records import Question, Sample


class Work(msgspec.Struct):
    """One teacher request for one question; ``mcq_key`` is the correct letter after shuffling."""

    question: Question
    request: GenerationRequest
    mcq_key: str | None = None


class Item(msgspec.Struct):
    """A sample with the question it answers, on its way to verification and the writer."""

    question: Question
    sample: Sample
