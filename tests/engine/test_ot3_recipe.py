"""configs/ot3.toml scaled down: the same recipe offline against the mock teacher and shipped
fixtures (plus ../shared/data when present): decontamination, dedup, LLM-scored filters, top-N,
16x sampling shrunk to 4, verification labels, funnel; and resume of every stage."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from engine.config import recipe_from_dict
from engine.job import Job
from engine.records import Excluded, Question
from engine.storage import shards
from engine.storage.reader import iter_lines
from tests.helpers import REPO, SHARED_DATA, read_samples

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = REPO / "tests" / "data" / "ot3"
TOP = {"math": 12, "code": 5, "science": 4}
# teacher requests: one per math/code question (native n); science options are shuffled per
# sample, so one request per sample
SAMPLING_REQUESTS = TOP["math"] + TOP["code"] + 4 * TOP["science"]


def fixture(name: str, domain: str, filename: str) -> dict[str, object]:
    return {
        "name": name,
        "domain": domain,
        "path": str(FIXTURES / filename),
        "fields": {"id": "id"},
    }


def scaled_ot3(url: str, out: Path, with_shared: bool = False):
    data = tomllib.loads((REPO / "configs" / "ot3.toml").read_text())
    data["sources"] = [
        fixture("math", "math", "math.jsonl"),
        fixture("code", "code", "code.jsonl"),
        fixture("sci", "science", "science.jsonl"),
    ]
    del data["decont"]["suite"]  # the eval suite's hub data: a local benchmark stands in
    data["decont"]["benchmarks"] = [
        {
            "name": "bench",
            "domain": "math",
            "path": str(FIXTURES / "bench_math.jsonl"),
            "fields": {"id": "id"},
        }
    ]
    if with_shared:
        amc = SHARED_DATA / "math" / "amc.json"
        aime = SHARED_DATA / "math" / "aime2024.json"
        data["sources"].append({"name": "amc", "domain": "math", "path": str(amc), "limit": 20})
        data["decont"]["benchmarks"].append({"name": "aime24", "domain": "math", "path": str(aime)})
    data["mix"]["quotas"] = {"math": 100, "code": 100, "science": 100}
    backend = {"base_url": url, "api_key_env": None, "max_in_flight": 16, "backoff_base_s": 0.01}
    data["scorer"] |= backend | {"answer_max_tokens": 2048}
    data["teacher"] |= backend | {"request_timeout_s": 30}
    data["select"]["top"] = TOP
    data["sampling"] |= {"n": 4, "max_tokens": 4096}
    data["output"] = {"dir": str(out), "shard_records": 20, "flush_records": 8}
    return recipe_from_dict(data, "ot3-scaled")


def excluded(out: Path) -> list[Excluded]:
    return [
        msgspec.json.decode(line, type=Excluded)
        for path in shards.list_shards(out, "ot3_excluded")
        for line in iter_lines(path)
    ]


async def test_scaled_ot3_runs_end_to_end(tmp_path, mock_teacher):
    out = tmp_path / "out"
    async with mock_teacher(answer_key=str(FIXTURES / "math.jsonl"), completion_tokens=120) as mock:
        job = Job(scaled_ot3(mock.url, out))
        assert await job.run() == 0
    funnel = job.funnel.as_dict()
    assert funnel["read"] == {"math": {"math": 42}, "code": {"code": 12}, "science": {"sci": 10}}
    assert funnel["decont"]["math"] == {"bench": 1}
    assert funnel["dedup"]["math"] == {"exact": 1}
    assert {d: funnel["select"][d]["selected"] for d in TOP} == TOP

    drops = {(e.question_id, e.stage): e for e in excluded(out)}
    leak = drops[("math:m-leak", "decont")].reason
    assert leak.benchmark == "bench" and leak.item_id.endswith("b1")
    assert drops[("math:m-dup", "dedup")].reason.kept_id == "math:m03"
    assert sum(stage == "select" for _, stage in drops) == (40 - 12) + (12 - 5) + (10 - 4)

    samples = read_samples(out, "ot3")
    keys = Counter((s.question_id, s.sample_index) for s in samples)
    assert len(keys) == len(samples) == 4 * sum(TOP.values())
    by_domain = Counter(s.domain for s in samples)
    assert by_domain == {d: 4 * n for d, n in TOP.items()}
    assert all(s.verdict is not None or s.failure is not None for s in samples)
    assert {s.verdict.status for s in samples if s.domain == "math"} <= {"passed", "wrong_answer"}
    assert all(s.mcq_key in "ABCD" for s in samples if s.domain == "science")
    # the chosen code questions are the hardest by the scorer's rating
    scored = {q.id: q for q in job_scored(out)}
    code_ratings = sorted(
        (q.scores[-1].value for q in scored.values() if q.domain == "code"), reverse=True
    )
    chosen = {s.question_id for s in samples if s.domain == "code"}
    assert sorted((scored[i].scores[-1].value for i in chosen), reverse=True) == code_ratings[:5]
    manifest = msgspec.json.decode((out / "manifest.json").read_bytes())
    assert manifest["state"] == "finished" and manifest["funnel"]["select"]
    # a torn part is rebuilt from its records: it must index exactly like the writers do
    for path in shards.list_shards(out):
        sealed, rebuilt = shards.read_index(path), shards.index_from_lines(iter_lines(path))
        assert (sealed.keys, sealed.outcomes) == (rebuilt.keys, rebuilt.outcomes), path.name


def job_scored(out: Path):
    from engine.storage.output import Stream

    return list(Stream(out, "ot3_scored").read(Question))


async def test_restart_after_the_barrier_recomputes_nothing(tmp_path, mock_teacher):
    out = tmp_path / "out"
    async with mock_teacher(answer_key=str(FIXTURES / "math.jsonl")) as mock:
        assert await Job(scaled_ot3(mock.url, out)).run() == 0
        first = dict(mock.stats)
        # a crash inside the barrier: selection not yet renamed into place, sampling not begun
        (selection,) = out.glob("ot3_selection-*.jsonl.zst")
        selected = selection.read_bytes()
        selection.unlink()
        for path in shards.list_shards(out, "ot3"):
            path.unlink()
        (out / "manifest.json").unlink()
        assert await Job(scaled_ot3(mock.url, out)).run() == 0
        assert selection.read_bytes() == selected  # same top-N, from the scored shards
        # sampling only, and each run's preflight: one token from the teacher and one from the
        # scorer, whose models the mock's /models does not list
        assert mock.stats["requests"] - first["requests"] == SAMPLING_REQUESTS + 2
        # and a finished job run again makes no request but its preflight
        assert await Job(scaled_ot3(mock.url, out)).run() == 0
        assert mock.stats["requests"] - first["requests"] == SAMPLING_REQUESTS + 4
    ids = Counter((e.question_id, e.stage) for e in excluded(out))
    assert max(ids.values()) == 1  # no exclusion record twice
    assert len(read_samples(out, "ot3")) == 4 * sum(TOP.values())


@pytest.mark.skipif(not (SHARED_DATA / "math").is_dir(), reason="../shared/data absent")
async def test_scaled_ot3_with_shared_benchmark_data(tmp_path, mock_teacher):
    out = tmp_path / "out"
    async with mock_teacher(answer_key=str(FIXTURES / "math.jsonl")) as mock:
        job = Job(scaled_ot3(mock.url, out, with_shared=True))
        assert await job.run() == 0
    funnel = job.funnel.as_dict()
    assert funnel["read"]["math"]["amc"] == 20
    assert funnel["select"]["math"]["selected"] == TOP["math"]


@pytest.mark.slow
def test_sigkill_in_every_stage_then_resume_is_exactly_once(tmp_path):
    """kill -9 at points of progress spread over curation, the barrier and sampling."""
    import functools
    import subprocess

    from tests.helpers import kill_when, mock_process, records

    out = tmp_path / "out"
    driver = (
        "import asyncio, sys\n"
        "from tests.engine.test_ot3_recipe import scaled_ot3\nfrom engine.job import Job\n"
        f"out = __import__('pathlib').Path({str(out)!r})\n"
        "asyncio.run(Job(scaled_ot3(sys.argv[1], out)).run())\n"
    )

    def selected() -> bool:  # the barrier has just persisted its selection
        return any(out.glob("ot3_selection-*.jsonl.zst"))

    faults = [  # in order: twice in curation, at the barrier, twice in sampling
        lambda: records(out, "ot3_scored") >= 8,
        lambda: records(out, "ot3_scored") >= 24,
        selected,
        lambda: records(out, "ot3") >= 8,
        lambda: records(out, "ot3") >= 40,
    ]
    mock_args = ("--answer-key", str(FIXTURES / "math.jsonl"), "--latency-ms", "120")
    with mock_process(*mock_args, "--latency-dist", "exponential") as url:
        start = functools.partial(subprocess.Popen, [sys.executable, "-c", driver, url], cwd=REPO)
        for reached in faults:
            kill_when(start, reached)
        final = subprocess.run([sys.executable, "-c", driver, url], cwd=REPO, timeout=180)
        assert final.returncode == 0
    samples = read_samples(out, "ot3")
    keys = Counter((s.question_id, s.sample_index) for s in samples)
    assert max(keys.values()) == 1 and len(keys) == 4 * sum(TOP.values())
    assert max(Counter((e.question_id, e.stage) for e in excluded(out)).values()) == 1
    assert max(Counter(q.id for q in job_scored(out)).values()) == 1
    assert len(list(out.glob("ot3_selection-*.jsonl.zst"))) == 1
