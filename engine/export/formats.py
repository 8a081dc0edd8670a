"""Export formats: each record's columns, and the data files they are written to.

``sharegpt`` and ``llamafactory`` rows carry ShareGPT ``conversations`` (``from``: system, human,
gpt; ``value``), ``messages`` rows OpenAI ``messages`` (``role``: system, user, assistant;
``content``), both with the sample's metadata beside them. ``trl`` rows hold ``messages`` only:
TRL's SFTTrainer converts any ``conversations`` column it sees (and its roles become
system/human/gpt), so a TRL dataset has nothing else. Files are Parquet (typed columns, zstd
compressed) or plain JSONL, the two that LLaMA-Factory, TRL and ``datasets`` all read as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from engine.records import Message, Sample
from engine.specs import ExportFiles, ExportFormat

SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}
SHAREGPT_TAGS = {  # dataset_info.json `tags` of LLaMA-Factory's sharegpt formatting
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "system_tag": "system",
}

_TURN = {
    "sharegpt": pa.struct([("from", pa.string()), ("value", pa.string())]),
    "messages": pa.struct([("role", pa.string()), ("content", pa.string())]),
}
METADATA = pa.schema(
    [
        ("question_id", pa.string()),
        ("sample_index", pa.int64()),
        ("domain", pa.string()),
        ("verdict", pa.string()),
        ("answer", pa.string()),
        ("teacher_model", pa.string()),
        ("seed", pa.int64()),
        ("recipe_hash", pa.string()),
        ("finish_reason", pa.string()),
        ("truncated", pa.bool_()),  # the teacher stopped at max_tokens
        ("completion_tokens", pa.int64()),  # the teacher's count of the completion
        ("tokens", pa.int64()),  # the exported conversation, under the target tokenizer
        ("cut", pa.bool_()),  # shortened to the cutoff by the length policy
    ]
)


def column(fmt: ExportFormat) -> str:
    """The conversation column of a format."""
    return "conversations" if fmt in ("sharegpt", "llamafactory") else "messages"


def schema(fmt: ExportFormat) -> pa.Schema:
    """The columns of every row of ``fmt``, in order."""
    style = "sharegpt" if column(fmt) == "conversations" else "messages"
    conversation = pa.field(column(fmt), pa.list_(_TURN[style]))
    if fmt == "trl":
        return pa.schema([conversation])
    return pa.schema([conversation, *METADATA])


def row(fmt: ExportFormat, sample: Sample, messages: list[Message], tokens: int, cut: bool) -> dict:
    """One exported record; ``messages`` is the conversation with the assistant turn."""
    if column(fmt) == "conversations":
        turns: list[dict[str, str]] = [
            {"from": SHAREGPT_ROLE[m.role], "value": m.content} for m in messages
        ]
    else:
        turns = [{"role": m.role, "content": m.content} for m in messages]
    if fmt == "trl":
        return {"messages": turns}
    verdict = sample.verdict
    return {
        column(fmt): turns,
        "question_id": sample.question_id,
        "sample_index": sample.sample_index,
        "domain": sample.domain,
        "verdict": verdict.status if verdict else None,
        "answer": verdict.answer if verdict else None,
        "teacher_model": sample.teacher.model,
        "seed": sample.seed,
        "recipe_hash": sample.recipe_hash,
        "finish_reason": sample.finish_reason,
        "truncated": sample.truncated,
        "completion_tokens": sample.usage.completion_tokens,
        "tokens": tokens,
        "cut": cut,
    }


class DataWriter:
    """Rows into ``{name}-{seq:05d}.{parquet|jsonl}`` files of at most ``shard_records`` rows."""

    def __init__(
        self, directory: Path, name: str, files: ExportFiles, table: pa.Schema, shard_records: int
    ):
        self.directory = directory
        self.name = name
        self.files = files
        self.table = table
        self.shard_records = shard_records
        self.paths: list[Path] = []
        self._rows_in_file = 0
        self._handle: Any = None
        self._encode = msgspec.json.Encoder().encode

    def write(self, rows: list[dict]) -> None:
        while rows:
            if self._handle is None or self._rows_in_file >= self.shard_records:
                self._rotate()
            room = self.shard_records - self._rows_in_file
            chunk, rows = rows[:room], rows[room:]
            if self.files == "parquet":
                self._handle.write_table(pa.Table.from_pylist(chunk, schema=self.table))
            else:
                self._handle.write(b"".join(self._encode(r) + b"\n" for r in chunk))
            self._rows_in_file += len(chunk)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _rotate(self) -> None:
        self.close()
        path = self.directory / f"{self.name}-{len(self.paths):05d}.{self.files}"
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.files == "parquet":
            self._handle = pq.ParquetWriter(path, self.table, compression="zstd")
        else:
            self._handle = path.open("wb")
        self.paths.append(path)
        self._rows_in_file = 0
