"""End to end against real vLLM on the tiny random model: a server started by ``--serve`` with
the server command of the project's vLLM venv, and the in-process backend (``--backend vllm``),
which loads the model once for the whole suite. The model's answers are noise (scores near
zero), but n, per-sample seeds, truncation, kill -9 and resume, and the server's stop are real.
"""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from tests.engine.eval.suites import (
    benchmark_table,
    math_rows,
    start_eval,
    write_jsonl,
    write_suite,
)
from tests.helpers import REPO, kill_when, read_samples, records, run_cli
from tests.vllm_support.harness import (
    CPU_ENGINE_ARGS,
    MODEL,
    PYTHON,
    require_vllm_env,
    server_flags,
    venv_environ,
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


def test_inprocess_vllm_loads_the_model_once_for_the_whole_suite(tmp_path):
    """Two benchmarks through ``--backend vllm``: one backend started for the suite and passed
    to each benchmark's Job, so vLLM logs one weight load (it logs one per engine it builds)."""
    require_vllm_env()
    benchmarks = []
    for name, start in (("a", 0), ("b", 100)):
        data = write_jsonl(tmp_path / f"{name}.jsonl", math_rows(8, start))
        benchmarks.append(
            benchmark_table(name, "math", N, {"path": str(data), "fields": {"id": "id"}})
        )
    engine_args = ", ".join(f"{k} = {json.dumps(v)}" for k, v in CPU_ENGINE_ARGS.items())
    out = tmp_path / "out"
    suite = write_suite(tmp_path / "s.toml", out, benchmarks, mock=None,
                        model=f"max_in_flight = 8\nengine_args = {{ {engine_args} }}")  # fmt: skip
    suite.write_text(suite.read_text().replace("max_tokens = 1024", f"max_tokens = {MAX_TOKENS}"))
    command = [str(PYTHON), "-m", "engine", "eval", "--suite", str(suite), "--backend", "vllm",
               "--model", str(MODEL), "--quiet"]  # fmt: skip
    env = venv_environ() | {"VLLM_LOGGING_LEVEL": "INFO"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert log.count("Loading weights took") == 1, log[-4000:]
    results = json.loads((out / "results.json").read_text())
    assert [b["name"] for b in results["benchmarks"]] == ["a", "b"]
    for name in ("a", "b"):
        samples = read_samples(out / name)
        assert len({(s.question_id, s.sample_index) for s in samples}) == len(samples) == 8 * N
        assert all(s.teacher.backend == "vllm" and s.teacher.model == str(MODEL) for s in samples)
        assert all(
            s.verdict is not None and s.usage.completion_tokens <= MAX_TOKENS for s in samples
        )
