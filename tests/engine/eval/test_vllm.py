"""End to end against a real vLLM server on the tiny random model, started by ``--serve`` with
the server command of the project's vLLM venv. The model's answers are noise (scores near
zero), but n, per-sample seeds, truncation, kill -9 and resume, and the server's stop are real.
"""

from __future__ import annotations

import json
import shlex

import pytest

from tests.engine.eval.suites import (
    benchmark_table,
    math_rows,
    start_eval,
    write_jsonl,
    write_suite,
)
from tests.helpers import kill_when, read_samples, records, run_cli
from tests.vllm_support.harness import (
    CPU_ENGINE_ARGS,
    MODEL,
    PYTHON,
    require_vllm_env,
    server_flags,
)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

QUESTIONS, N, MAX_TOKENS = 24, 3, 24


def test_eval_against_a_served_vllm_checkpoint_resumes_after_kill_9(tmp_path):
    require_vllm_env()
    data = write_jsonl(tmp_path / "q.jsonl", math_rows(QUESTIONS))
    bench = benchmark_table("m", "math", N, {"path": str(data), "fields": {"id": "id"}})
    out = tmp_path / "out"
    suite = write_suite(tmp_path / "s.toml", out, [bench], mock=None, model="max_in_flight = 4",
                        extra="[serve]\nhealth_timeout_s = 600")  # fmt: skip
    suite.write_text(suite.read_text().replace("max_tokens = 1024", f"max_tokens = {MAX_TOKENS}"))
    server = [str(PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", "{checkpoint}"]
    command = [*server, "--host", "127.0.0.1", "--port", "{port}", *server_flags(CPU_ENGINE_ARGS)]
    args = ("--suite", str(suite), "--serve", str(MODEL), "--serve-command", shlex.join(command))
    kill_when(lambda: start_eval(*args), lambda: records(out / "m") >= N)
    assert records(out / "m") < QUESTIONS * N, "the eval ended before its kill"
    result = run_cli("eval", *args, "--quiet")
    assert result.returncode == 0, result.stderr + (out / "server.log").read_text()[-3000:]
    samples = read_samples(out / "m")
    keys = {(s.question_id, s.sample_index) for s in samples}
    assert len(samples) == len(keys) == QUESTIONS * N  # exactly once across the kill
    by_question: dict[str, dict[int, int]] = {}
    for s in samples:
        by_question.setdefault(s.question_id, {})[s.sample_index] = s.seed
        assert s.teacher.model == str(MODEL) and s.verdict is not None
        assert s.truncated == (s.finish_reason == "length")
        assert s.usage.completion_tokens <= MAX_TOKENS
    for seeds in by_question.values():  # sample i of a question has seed question_seed + i
        assert sorted(seeds) == list(range(N))
        assert all(seeds[i] == seeds[0] + i for i in seeds)
    results = json.loads((out / "results.json").read_text())
    (bench_result,) = results["benchmarks"]
    assert bench_result["samples"] == QUESTIONS * N and bench_result["avg"]["mean"] < 0.1
    assert bench_result["truncation_rate"] == pytest.approx(
        sum(s.truncated for s in samples) / len(samples)
    )
    assert bench_result["truncation_rate"] > 0  # 24 tokens of a random model rarely stop
    assert results["checkpoint"] == str(MODEL)
