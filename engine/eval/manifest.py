"""``eval.json``: what an eval output directory holds (the suite, the model, the frozen data).

One subdirectory per benchmark, each a generation job's output (manifest + sample shards) and
its frozen ``questions.jsonl.zst``; ``results.json`` and ``report.html`` beside them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import msgspec

from engine.errors import ConfigError
from engine.eval.prepare import Prepared

EVAL_MANIFEST = "eval.json"
RESULTS = "results.json"
REPORT = "report.html"


class EvalManifest(msgspec.Struct):
    suite: dict[str, Any]  # the validated suite, as run
    prepared: dict[str, Prepared] = {}  # benchmark name -> its frozen questions
    model: dict[str, Any] = {}  # the backend the samples came from (engine TeacherSpec)
    checkpoint: str | None = None  # --serve: the checkpoint the server ran
    state: str = "running"
    created: float = 0.0
    updated: float = 0.0


def read_manifest(directory: Path) -> EvalManifest | None:
    path = directory / EVAL_MANIFEST
    try:
        return msgspec.json.decode(path.read_bytes(), type=EvalManifest)
    except FileNotFoundError:
        return None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ConfigError(f"{path}: unreadable eval manifest: {error}") from None


def require_manifest(directory: Path) -> EvalManifest:
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such eval output directory")
    manifest = read_manifest(directory)
    if manifest is None:
        raise ConfigError(f"{directory}: not an eval output ({EVAL_MANIFEST} missing)")
    return manifest


def write_json(path: Path, value: Any) -> None:
    """Atomically replace ``path`` with ``value`` as indented JSON (write, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(value)))
        f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_manifest(directory: Path, manifest: EvalManifest, state: str) -> EvalManifest:
    now = time.time()
    manifest = msgspec.structs.replace(
        manifest, state=state, created=manifest.created or now, updated=now
    )
    write_json(directory / EVAL_MANIFEST, manifest)
    return manifest
