"""The mock teacher as a subprocess of a job (``[mock_teacher]`` in a recipe)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import msgspec

from engine.records import Question
from engine.specs import MockTeacherSpec


@contextlib.asynccontextmanager
async def mock_teacher_process(
    spec: MockTeacherSpec, questions: Iterable[Question] | None
) -> AsyncIterator[str]:
    """Start ``python -m engine mock-teacher`` (answering from the questions' gold answers when
    given); yield its base URL; stop it at exit."""
    with tempfile.TemporaryDirectory(prefix="thoughtmill-mock-") as tmp:
        args = [
            "--port", "0",
            "--correct-rate", str(spec.correct_rate),
            "--latency-ms", str(spec.latency_ms),
            "--tokens-per-s", str(spec.tokens_per_s),
        ]  # fmt: skip
        if questions is not None:
            key = Path(tmp) / "answer_key.jsonl"
            with key.open("wb") as f:
                for q in questions:
                    if q.answer is not None:
                        f.write(msgspec.json.encode({"problem": q.problem, "answer": q.answer}))
                        f.write(b"\n")
            args += ["--answer-key", str(key)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "engine", "mock-teacher", *args,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            if "http://" not in line:
                raise RuntimeError(f"mock teacher did not start: {line!r}")
            yield line[line.index("http://") :].strip()
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
