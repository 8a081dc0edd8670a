"""The loop on the CPU with real parts: generate the demo -> export -> TRL fine-tunes the tiny
Llama (`engine train --run`) -> the checkpoint serves in vLLM and answers through the engine,
each sample with its own token count -> `engine eval` serves and scores it (the README's
loop, configs/eval/loop.toml); and stock LLaMA-Factory loads a `llamafactory` export."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from statistics import mean

import pytest

from tests.engine.train.env import (
    LF_PYTHON,
    TINY_PRESET,
    require_llamafactory,
    require_trl,
    venv_engine,
)
from tests.helpers import REPO, read_samples, run_cli
from tests.vllm_support.harness import MODEL, PYTHON, VLLMServer

pytestmark = [pytest.mark.train, pytest.mark.slow]


def demo_output(tmp_path: Path) -> Path:
    """`python -m engine run` on configs/demo.toml, with the output in tmp_path."""
    config = tmp_path / "demo.toml"
    text = (REPO / "configs" / "demo.toml").read_text()
    config.write_text(text.replace('dir = "out/demo"', f'dir = "{tmp_path / "demo"}"'))
    done = run_cli("run", "--config", str(config), "--quiet")
    assert done.returncode == 0, done.stderr
    return tmp_path / "demo"


def export_tiny(out: Path, dest: Path, fmt: str) -> dict:
    """Export for the tiny preset, lengths measured with the tiny model's own tokenizer."""
    done = venv_engine(
        "export", str(out), str(dest), "--format", fmt, "--preset", str(TINY_PRESET),
        "--tokenizer", str(MODEL), "--gpus-per-node", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_generate_export_train_then_serve_the_checkpoint(tmp_path):
    require_trl()
    out = demo_output(tmp_path)
    report = export_tiny(out, tmp_path / "sft", "trl")
    lengths = report["lengths"]
    assert lengths["method"] == "tokenizer" and str(MODEL) in lengths["note"]
    assert report["records_out"] + lengths["dropped"].get("math", 0) == 160
    assert report["records_out"] >= 120 and max(lengths["max_tokens"].values()) > 0

    checkpoint = tmp_path / "ckpt"
    trained = venv_engine(
        "train", "--preset", str(TINY_PRESET), "--data", str(tmp_path / "sft"),
        "--gpus-per-node", "0", "--model", str(MODEL), "--output-dir", str(checkpoint), "--run",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    (state,) = checkpoint.glob("checkpoint-*/trainer_state.json")
    losses = [e["loss"] for e in json.loads(state.read_text())["log_history"] if "loss" in e]
    assert len(losses) == -(-report["records_out"] // 4)  # one logged loss per step
    first, last = mean(losses[:5]), mean(losses[-5:])
    print(f"losses: first 5 mean {first:.3f}, last 5 mean {last:.3f}, {len(losses)} steps")
    assert last < 0.8 * first

    server = VLLMServer(tmp_path / "vllm.log", model=checkpoint)
    try:
        server.wait_ready()
        exact = answer(server, tmp_path, "exact", "extra_body = { return_token_ids = true }")
        shared = answer(server, tmp_path, "shared", "")
    finally:
        server.stop()
    results = evaluate(checkpoint, tmp_path)  # the loop closed: the eval launcher on it
    # vLLM returns each choice's token ids: every sample its own count, never the average
    assert all(not s.usage.estimated for s in exact)
    for sample in exact:
        if sample.finish_reason == "length":
            assert sample.usage.completion_tokens == 24
        else:
            assert 0 < sample.usage.completion_tokens < 24
    # without them, the server's total is shared out by each text's bytes, marked estimated
    assert all(s.usage.estimated for s in shared)
    totals = defaultdict(lambda: [0, 0])
    texts = {s.key[:2]: s.completion for s in exact}
    for s in exact:
        totals[s.question_id][0] += s.usage.completion_tokens
    for s in shared:
        assert s.completion == texts[s.key[:2]]  # same seeds, same text
        totals[s.question_id][1] += s.usage.completion_tokens
    assert all(ours == servers for servers, ours in totals.values())
    (bench,) = results["benchmarks"]
    assert results["checkpoint"] == str(checkpoint) and bench["samples"] == 8 * 2
    assert bench["scored"] + sum(bench["unscored"].values()) == bench["samples"]


def evaluate(checkpoint: Path, tmp_path: Path) -> dict:
    """The README's last step: `engine eval --suite configs/eval/loop.toml --serve CKPT`."""
    suite = REPO / "configs" / "eval" / "loop.toml"
    done = run_cli(
        "eval", "--suite", str(suite), "--serve", str(checkpoint), "--out", str(tmp_path / "eval"),
        "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "eval" / "report.html").exists()
    return json.loads((tmp_path / "eval" / "results.json").read_text())


def answer(server: VLLMServer, tmp_path: Path, name: str, extra: str) -> list:
    """The trained checkpoint answers 6 demo questions (n = 4) through the engine."""
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'[job]\nname = "{name}"\nseed = 1\n'
        '[[sources]]\nname = "demo"\ndomain = "math"\n'
        f'path = "{REPO / "configs" / "data" / "demo_math.jsonl"}"\nfields = {{ id = "id" }}\n'
        f'[teacher]\nmodel = "{server.model}"\nbase_url = "{server.url}"\n{extra}\n'
        "[sampling]\nn = 4\nmax_tokens = 24\n"
        "[verify.math]\nenabled = false\n"
        f'[output]\ndir = "{tmp_path / name}"\n'
        "[limits]\nmax_questions = 6\n"
    )
    done = run_cli("run", "--config", str(config), "--quiet")
    assert done.returncode == 0, done.stderr
    samples = read_samples(tmp_path / name)
    assert len(samples) == 24 and all(s.completion for s in samples)
    return samples


RECOUNT = """
import sys, pyarrow.parquet as pq
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[2])
role = {"system": "system", "human": "user", "gpt": "assistant"}
for row in pq.read_table(sys.argv[1]).to_pylist():
    chat = [{"role": role[t["from"]], "content": t["value"]} for t in row["conversations"]]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    print(row["tokens"], len(tokenizer(text, add_special_tokens=False)["input_ids"]))
"""


def test_stock_llamafactory_parses_and_loads_the_export(tmp_path):
    require_llamafactory()
    require_trl()  # the vLLM venv's transformers measures the traces
    out = demo_output(tmp_path)
    report = export_tiny(out, tmp_path / "lf", "llamafactory")
    (data,) = (tmp_path / "lf" / "data").glob("*.parquet")
    recount = subprocess.run(
        [str(PYTHON), "-c", RECOUNT, str(data), str(MODEL)], capture_output=True, text=True
    )
    assert recount.returncode == 0, recount.stderr[-2000:]
    pairs = [tuple(map(int, line.split())) for line in recount.stdout.splitlines()]
    assert len(pairs) == report["records_out"] and all(ours == theirs for ours, theirs in pairs)
    assert max(ours for ours, _ in pairs) <= 1024 < report["lengths"]["max_tokens"]["math"]
    check = subprocess.run(
        [
            str(LF_PYTHON),
            str(Path(__file__).with_name("llamafactory_check.py")),
            str(tmp_path / "lf"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert check.returncode == 0, check.stderr[-3000:]
    seen = json.loads(check.stdout.strip().splitlines()[-1])
    assert seen["examples"] == seen["with_labels"] == report["records_out"]
    assert (seen["template"], seen["finetuning_type"], seen["cutoff_len"]) == ("qwen", "full", 1024)
    assert seen["learning_rate"] == 1e-3 and seen["gradient_accumulation_steps"] == 1
    assert seen["first_prompt"].startswith("<|im_start|>system\nYou are a careful mathematician.")
    assert seen["first_labels"].startswith("<think>\n")  # the prompt is masked, the trace learned
