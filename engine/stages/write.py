"""Write stages: the last stage of each pipeline, appending its records to their shards."""

from __future__ import annotations

from engine.funnel import Funnel
from engine.metrics import Metrics
from engine.pipeline import Emit
from engine.records import Question
from engine.stages.items import Item
from engine.storage.outcomes import Outcome
from engine.storage.sink import RecordSink, SampleSink


class WriteSamples:
    """Item -> its sample appended to the samples shards (sampling's last stage)."""

    name = "write"
    concurrency = 1
    drop_on_stop = False

    def __init__(self, samples: SampleSink, metrics: Metrics):
        self.samples = samples
        self.metrics = metrics

    async def process(self, item: Item, emit: Emit) -> None:
        completed = await self.samples.write_sample(item.sample)
        self.metrics.samples_written += 1
        self.metrics.questions_done += completed
        if completed:
            self.metrics.question_written(item.sample.question_id)


class WriteScored:
    """Question -> appended to the ``NAME_scored`` shards (curation's last stage)."""

    name = "scored"
    concurrency = 1
    drop_on_stop = False

    def __init__(self, sink: RecordSink):
        self.sink = sink
        self.funnel = Funnel()

    async def process(self, question: Question, emit: Emit) -> None:
        self.funnel.count("score", question.domain, "scored")
        await self.sink.write(
            question, (question.id, -1, ""), Outcome.of_question(question.domain, None)
        )
