"""Raw shards as training input: every stream of a multi-domain output loads with `datasets`
(typed from its record Struct; `engine cat --name` for one stream as JSON lines), and every
sample carries its own completion_tokens, never the average of its request."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from engine.backends.openai_http import _Choice, _choice_tokens, _shares, _Usage
from engine.export.streams import load_stream, stream_files
from engine.job import Job
from engine.storage.reader import iter_lines
from engine.testing.tokens import count_tokens
from tests.engine.test_ot3_recipe import FIXTURES, scaled_ot3
from tests.helpers import read_samples, run_cli

datasets = pytest.importorskip("datasets")


@pytest.fixture
async def multi_domain(tmp_path, mock_teacher):
    """The scaled OT3 recipe (math, code, science) with failed requests among the samples."""
    out = tmp_path / "out"
    options = {"answer_key": str(FIXTURES / "math.jsonl"), "completion_tokens": 120}
    async with mock_teacher(**options, error_rate=0.08, seed=5) as mock:
        recipe = scaled_ot3(mock.url, out)
        recipe.teacher.max_attempts = 1  # a 500 is a failure record, not a retry
        recipe.verify.code.sandbox = "local"  # code verdicts without Docker
        recipe.limits.max_failed_share = 0.5  # failures wanted: over 5% would fail the run
        assert await Job(recipe).run() == 0
    return out


async def test_every_stream_loads_with_datasets(multi_domain, tmp_path):
    out = multi_domain
    samples = read_samples(out, "ot3")
    assert {s.domain for s in samples} == {"math", "code", "science"}
    assert any(s.failure for s in samples) and any(s.verdict for s in samples)
    assert {s.domain for s in samples if s.verdict} == {"math", "code", "science"}
    for stream in ("ot3", "ot3_excluded", "ot3_scored", "ot3_selection"):
        table = load_stream(out, stream, cache_dir=str(tmp_path / "cache"))
        lines = [
            json.loads(line) for f in stream_files(out, stream) for line in iter_lines(Path(f))
        ]
        assert len(table) == len(lines) > 0, stream
        assert [row["question_id" if "question_id" in row else "id"] for row in table] == [
            line["question_id" if "question_id" in line else "id"] for line in lines
        ]
    rows = load_stream(out, "ot3", cache_dir=str(tmp_path / "cache"))
    failed = [row for row in rows if row["failure"] is not None]
    assert {row["failure"]["kind"] for row in failed} == {"server_error"}
    assert sum(row["mcq_key"] is not None for row in rows) == sum(
        s.mcq_key is not None for s in samples
    )
    # one stream as JSON lines, as the README says
    cat = run_cli("cat", str(out), "--name", "ot3_excluded")
    assert cat.returncode == 0
    path = tmp_path / "excluded.jsonl"
    path.write_text(cat.stdout)
    excluded = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert len(excluded) == len(load_stream(out, "ot3_excluded", cache_dir=str(tmp_path / "c")))


async def test_each_sample_has_its_own_completion_tokens(multi_domain):
    samples = [s for s in read_samples(multi_domain, "ot3") if s.completion is not None]
    by_request = defaultdict(list)  # math and code: one native-n request per question
    for sample in samples:
        if sample.domain != "science":
            by_request[sample.question_id].append(sample)
    shared = 0
    for group in by_request.values():
        # the mock's own count of each choice; its usage is their sum
        truth = [count_tokens(s.completion) for s in group]
        if len(group) == 1:
            assert group[0].usage.completion_tokens == truth[0] and not group[0].usage.estimated
            continue
        assert all(s.usage.estimated for s in group)  # one total for n: shared out by bytes
        assert sum(s.usage.completion_tokens for s in group) == sum(truth)
        for sample, tokens in zip(group, truth, strict=True):  # bytes track tokens closely
            assert abs(sample.usage.completion_tokens - tokens) <= max(2, tokens // 10)
        shared += len({s.usage.completion_tokens for s in group}) > 1
    assert shared >= len(by_request) // 2  # not one average for the whole request
    science = [s for s in samples if s.domain == "science"]  # one sample per request: exact
    assert science and all(
        s.usage.completion_tokens == count_tokens(s.completion) and not s.usage.estimated
        for s in science
    )


def test_shares_add_up_to_the_total():
    assert sorted(_shares(10, [1, 1, 1])) == [3, 3, 4]
    assert sum(_shares(1000, [7, 13, 0, 980])) == 1000 and _shares(5, [0, 0]) in ([3, 2], [2, 3])
    assert _shares(0, [4, 4]) == [0, 0]


def test_estimates_never_pass_max_tokens_and_a_cut_choice_has_exactly_that_many():
    choices = [_Choice(index=i, finish_reason=f) for i, f in enumerate(["length", "stop", "stop"])]
    texts = ["x" * 400, "y" * 10, "z" * 390]
    counts, estimated = _choice_tokens(choices, texts, _Usage(10, 150), max_tokens=100)
    assert estimated and counts[0] == 100 and sum(counts) == 150 and counts[2] > counts[1]
    counts, _ = _choice_tokens(choices, texts, _Usage(10, 400), max_tokens=100)  # a lying total
    assert counts[0] == 100 and max(counts) <= 100
    counts, _ = _choice_tokens(choices, texts, None, max_tokens=50)  # no usage: bytes / 4
    assert counts == [50, 3, 50]
