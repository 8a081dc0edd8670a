"""Training export from real job output: every format loads with `datasets` as is, filters,
dedupe guard, length policy, the [export] section, and one-line errors from the command line."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from engine.export import ExportError, ExportSpec, export
from engine.export.lengths import bucket
from engine.job import Job
from engine.records import Sample
from engine.storage import shards
from tests.helpers import read_samples, run_cli, write_questions

datasets = pytest.importorskip("datasets")

SYSTEM = "Think step by step, then box the answer."
PROMPT = f'system = "{SYSTEM}"\nuser = "{{problem}}"'
NO_VERIFY = "math = { enabled = false }"  # where verdicts do not matter: no worker pool to start


def estimated_length(sample: Sample) -> int:
    """The export's estimate of a trace (no tokenizer here): bytes/4 + 4 per message."""
    contents = [m.content for m in sample.messages] + [sample.completion or ""]
    return sum(-(-len(text.encode()) // 4) + 4 for text in contents)


def load_rows(dest: Path, cache: Path, files: str = "parquet") -> list[dict]:
    """The export's data files exactly as its report says to load them."""
    report = json.loads((dest / "export.json").read_text())
    assert report["load"] == (
        f'datasets.load_dataset("{files}", data_dir="{dest.resolve() / "data"}", split="train")'
    )
    table = datasets.load_dataset(
        "json" if files == "jsonl" else files,
        data_dir=str(dest / "data"),
        split="train",
        cache_dir=str(cache),
    )
    return table.to_list()


async def run_job(
    tmp_path, mock_teacher, make_recipe, count=30, mock=None, retries=8, **sections
) -> Path:
    """A job over ``count`` math questions (n = 4) against a mock with ``mock`` options."""
    questions = write_questions(tmp_path / "q.jsonl", count)
    options = {"answer_key": str(questions), "correct_rate": 0.6, "seed": 4} | (mock or {})
    async with mock_teacher(**options) as server:
        teacher = (
            f'model = "mock"\nbase_url = "{server.url}"\nmax_attempts = {retries}\n'
            "backoff_base_s = 0.01\nrequest_timeout_s = 5"
        )
        recipe = make_recipe(server.url, questions, teacher=teacher, **sections)
        assert await Job(recipe).run() == 0
    return tmp_path / "out"


@pytest.mark.parametrize("files", ["parquet", "jsonl"])
async def test_every_format_loads_with_datasets_as_is(tmp_path, mock_teacher, make_recipe, files):
    out = await run_job(
        tmp_path, mock_teacher, make_recipe, 40,
        mock={"truncate_rate": 0.1, "error_rate": 0.15}, retries=1, prompt=PROMPT,
    )  # fmt: skip
    samples = read_samples(out)
    wanted = {s.key[:2]: s for s in samples if s.completion is not None and not s.truncated}
    failed = Counter(f"failed:{s.failure.kind}" for s in samples if s.failure)
    truncated = sum(s.truncated for s in samples)
    assert wanted and failed and truncated  # the run has every kind of record

    for fmt in ("sharegpt", "messages", "llamafactory", "trl"):
        dest = tmp_path / fmt
        spec = ExportSpec(format=fmt, files=files, shard_records=50)
        report = export(out, dest, spec)
        assert report.records_in == len(samples) == 160
        assert report.records_out == len(wanted)
        assert report.dropped == {**failed, "truncated": truncated}
        assert report.domains_in == {"math": 160} and report.domains_out == {"math": len(wanted)}
        assert len(report.data_files) == -(-len(wanted) // 50)
        assert sorted(p.name for p in (dest / "data").iterdir()) == [
            f"train-{i:05d}.{files}" for i in range(len(report.data_files))
        ]
        rows = load_rows(dest, tmp_path / "cache", files)
        assert len(rows) == len(wanted)
        if fmt == "trl":  # nothing beside the messages: SFTTrainer converts nothing
            assert {tuple(row) for row in rows} == {("messages",)}
            contents = Counter(row["messages"][-1]["content"] for row in rows)
            assert contents == Counter(s.completion for s in wanted.values())
            continue
        assert {(r["question_id"], r["sample_index"]) for r in rows} == set(wanted)
        for row in rows:
            sample = wanted[(row["question_id"], row["sample_index"])]
            user = sample.messages[-1].content
            if fmt == "messages":
                assert "conversations" not in row
                assert row["messages"] == [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": sample.completion},
                ]
            else:
                assert "messages" not in row
                assert row["conversations"] == [
                    {"from": "system", "value": SYSTEM},
                    {"from": "human", "value": user},
                    {"from": "gpt", "value": sample.completion},
                ]
            assert sample.completion.startswith("<think>\n") and "</think>" in sample.completion
            assert row["verdict"] == sample.verdict.status and row["seed"] == sample.seed
            assert row["completion_tokens"] == sample.usage.completion_tokens
            assert row["cut"] is False and row["tokens"] == estimated_length(sample)


async def test_llamafactory_and_trl_files_point_at_the_data(tmp_path, mock_teacher, make_recipe):
    out = await run_job(tmp_path, mock_teacher, make_recipe, 5, verify=NO_VERIFY)
    lf = tmp_path / "lf"
    report = export(out, lf, ExportSpec(format="llamafactory", nodes=4, gpus_per_node=8))
    assert sorted(Path(p).name for p in report.configs) == [
        "dataset_info.json", "deepspeed.json", "train.yaml"
    ]  # fmt: skip
    info = json.loads((lf / "dataset_info.json").read_text())
    assert info == {
        "thoughtmill": {
            "file_name": "data",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "system_tag": "system",
            },
        }
    }
    config = yaml_values(lf / "train.yaml")
    assert config["dataset_dir"] == str(lf.resolve()) and config["dataset"] == "thoughtmill"
    assert config["template"] == "qwen" and config["deepspeed"] == str(
        lf.resolve() / "deepspeed.json"
    )
    # ot3-7b's global batch 512 = 1 per device x 16 accumulation x 32 GPUs
    assert (config["per_device_train_batch_size"], config["gradient_accumulation_steps"]) == (1, 16)
    assert json.loads((lf / "deepspeed.json").read_text())["zero_optimization"]["stage"] == 3

    trl = tmp_path / "trl"
    export(out, trl, ExportSpec(format="trl", preset="ot3-ablation", nodes=2, gpus_per_node=8))
    config = yaml_values(trl / "sft.yaml")
    assert config["dataset_name"] == str(trl.resolve() / "data")
    assert (config["learning_rate"], config["packing"], config["max_length"]) == (
        4e-5,
        False,
        16384,
    )
    assert config["gradient_accumulation_steps"] == 128 // 16  # ablation: global batch 128


def yaml_values(path: Path) -> dict:
    """Our YAML is one ``key: JSON scalar`` per line; read it the way YAML 1.1 does."""
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(": ")
        values[key] = json.loads(value)
        if isinstance(values[key], float):  # PyYAML reads a float only with a dot in it
            assert re.fullmatch(r"-?\d+\.\d*(e[-+]?\d+)?", value), line
    return values


async def test_passed_only_and_truncated_kept_on_request(tmp_path, mock_teacher, make_recipe):
    out = await run_job(tmp_path, mock_teacher, make_recipe, mock={"truncate_rate": 0.2})
    samples = read_samples(out)
    truncated = {s.key[:2] for s in samples if s.truncated}
    passed = {s.key[:2] for s in samples if s.verdict and s.verdict.passed} - truncated
    assert truncated and passed

    report = export(out, tmp_path / "passed", ExportSpec(answer_filter="passed"))
    rows = load_rows(tmp_path / "passed", tmp_path / "cache")
    assert {(r["question_id"], r["sample_index"]) for r in rows} == passed
    assert {r["verdict"] for r in rows} == {"passed"}
    assert report.dropped == {
        "truncated": len(truncated),
        "answer_filter:not_passed": len(samples) - len(truncated) - len(passed),
    }

    report = export(out, tmp_path / "all", ExportSpec(keep_truncated=True))
    rows = load_rows(tmp_path / "all", tmp_path / "cache")
    assert len(rows) == len(samples) == report.records_out and report.dropped == {}
    assert {(r["question_id"], r["sample_index"]) for r in rows if r["truncated"]} == truncated
    assert {r["finish_reason"] for r in rows if r["truncated"]} == {"length"}


def boxed_answer(completion: str) -> str:
    return re.findall(r"\\boxed\{([^}]*)\}", completion)[-1]


async def test_majority_vote_where_there_is_no_gold(tmp_path, mock_teacher, make_recipe):
    keyed = write_questions(tmp_path / "key.jsonl", 25)  # the mock knows the answers ...
    plain = tmp_path / "plain.jsonl"  # ... the job does not: nothing to verify against
    rows = [json.loads(line) for line in keyed.read_text().splitlines()]
    plain.write_text(
        "".join(json.dumps({"id": r["id"], "problem": r["problem"]}) + "\n" for r in rows)
    )
    async with mock_teacher(answer_key=str(keyed), correct_rate=0.7) as server:
        recipe = make_recipe(server.url, plain, sampling="n = 8")
        assert await Job(recipe).run() == 0
    samples = read_samples(tmp_path / "out")
    assert all(s.verdict is None for s in samples)
    expected = set()
    majority_is_gold = 0
    gold = {f"s:{r['id']}": r["answer"] for r in rows}
    for qid in gold:
        group = sorted((s for s in samples if s.question_id == qid), key=lambda s: s.sample_index)
        answers = [boxed_answer(s.completion) for s in group]
        counts = Counter(answers)
        top = max(counts.values())
        winner = next(a for a in answers if counts[a] == top)  # ties: the lowest sample index
        expected |= {
            (qid, s.sample_index) for s, a in zip(group, answers, strict=True) if a == winner
        }
        majority_is_gold += winner == gold[qid]
    assert majority_is_gold >= 20

    out = tmp_path / "out"
    report = export(out, tmp_path / "voted", ExportSpec(answer_filter={"math": "majority"}))
    got = {(r["question_id"], r["sample_index"]) for r in load_rows(tmp_path / "voted", out)}
    assert got == expected
    assert report.dropped == {"answer_filter:minority": 200 - len(expected)}


async def test_dedupe_guard_and_earlier_recipes(tmp_path, mock_teacher, make_recipe):
    questions = write_questions(tmp_path / "q.jsonl", 10)
    async with mock_teacher(answer_key=str(questions)) as server:
        recipe = make_recipe(server.url, questions, sampling="n = 2", verify=NO_VERIFY)
        assert await Job(recipe).run() == 0
        out = tmp_path / "out"
        (first,) = shards.list_shards(out)
        shutil.copy(first, out / "t-7-00000.jsonl.zst")  # the same records twice
        report = export(out, tmp_path / "once", ExportSpec())
        assert (report.records_in, report.records_out, report.dropped) == (
            40,
            20,
            {"duplicate": 20},
        )

        sampling = "n = 2\ntemperature = 0.5"
        hotter = make_recipe(server.url, questions, sampling=sampling, verify=NO_VERIFY)
        assert await Job(hotter, allow_recipe_change=True).run() == 0
    current = export(out, tmp_path / "current", ExportSpec(format="sharegpt"))
    assert (current.records_in, current.records_out) == (60, 20)
    assert current.dropped == {"earlier_recipe": 40}
    rows = load_rows(tmp_path / "current", tmp_path / "cache")
    assert {r["recipe_hash"] for r in rows} == {hotter.sample_hash()}
    every = export(out, tmp_path / "all", ExportSpec(recipes="all"))
    assert (every.records_out, every.dropped) == (20, {"duplicate": 40})


async def test_length_policy_drops_keeps_or_cuts_long_traces(tmp_path, mock_teacher, make_recipe):
    out = await run_job(
        tmp_path, mock_teacher, make_recipe, 30, mock={"completion_tokens": 300}, verify=NO_VERIFY
    )
    samples = read_samples(out)
    lengths = {s.key[:2]: estimated_length(s) for s in samples}
    cutoff = sorted(lengths.values())[len(lengths) // 2]  # about half the traces are longer
    long = {key for key, tokens in lengths.items() if tokens > cutoff}
    assert 0 < len(long) < len(samples)

    reports = {
        policy: export(out, tmp_path / policy, ExportSpec(cutoff_len=cutoff, over_cutoff=policy))
        for policy in ("drop", "keep", "cut")
    }
    for policy, report in reports.items():
        lengths_report = report.lengths
        assert lengths_report.method == "estimate" and "UTF-8 bytes/4" in lengths_report.note
        assert lengths_report.histogram == {
            "math": {
                label: sum(bucket(t) == label for t in lengths.values())
                for label in lengths_report.histogram["math"]
            }
        }
        assert sum(lengths_report.histogram["math"].values()) == len(samples)
        assert lengths_report.over == {"math": len(long)}
        assert lengths_report.max_tokens == {"math": max(lengths.values())}
        on_disk = json.loads((tmp_path / policy / "export.json").read_text())
        assert on_disk["lengths"]["histogram"] == lengths_report.histogram  # the manifest
        rows = {(r["question_id"], r["sample_index"]): r for r in load_rows(tmp_path / policy, out)}
        if policy == "drop":
            assert set(rows) == set(lengths) - long
            assert report.dropped == {"over_cutoff": len(long)}
            assert lengths_report.dropped == {"math": len(long)} and lengths_report.cut == {}
        elif policy == "keep":
            assert set(rows) == set(lengths) and report.dropped == {}
            assert {k for k, r in rows.items() if r["tokens"] > cutoff} == long
        else:
            assert set(rows) == set(lengths) and lengths_report.cut == {"math": len(long)}
            assert {k for k, r in rows.items() if r["cut"]} == long
            by_key = {s.key[:2]: s for s in samples}
            for key in long:
                row = rows[key]
                assert row["tokens"] <= cutoff
                full = by_key[key].completion
                kept = row["messages"][-1]["content"]
                assert full.startswith(kept) and len(kept) < len(full)
            assert all(rows[k]["tokens"] == lengths[k] for k in set(lengths) - long)


async def test_export_errors_name_the_file(tmp_path, mock_teacher, make_recipe):
    with pytest.raises(ExportError, match="not an output directory"):
        export(tmp_path, tmp_path / "x", ExportSpec())
    out = await run_job(tmp_path, mock_teacher, make_recipe, 3, verify=NO_VERIFY)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="full: exists and is not an empty directory"):
        export(out, tmp_path / "full", ExportSpec())

    staging = tmp_path / "train.partial"  # left by an export that was killed
    staging.mkdir()
    (staging / "torn.parquet").write_bytes(b"torn")
    (tmp_path / "train").mkdir()  # an empty destination is fine
    report = export(out, tmp_path / "train", ExportSpec())
    assert report.records_out == 12 and not staging.exists()

    bad = out / "t-9-00000.jsonl.zst"
    lines = [b'{"question_id": "s:q0", "sample_index": 0}', b"{}"]
    bad.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(ExportError, match=r"t-9-00000.jsonl.zst: record 1: Object missing"):
        export(out, tmp_path / "again", ExportSpec())
    assert not (tmp_path / "again").exists()


async def test_cli_reads_the_export_section_and_fails_in_one_line(
    tmp_path, mock_teacher, make_recipe
):
    out = await run_job(tmp_path, mock_teacher, make_recipe, 4, verify=NO_VERIFY)
    config = tmp_path / "export.toml"
    config.write_text(
        '[export]\nformat = "llamafactory"\nfiles = "jsonl"\npreset = "ot3-ablation"\n'
    )
    done = run_cli("export", str(out), str(tmp_path / "a"), "--config", str(config))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == "llamafactory" and report["data_files"][0].endswith(".jsonl")
    assert yaml_values(tmp_path / "a" / "train.yaml")["learning_rate"] == 4e-5
    flag = run_cli(
        "export", str(out), str(tmp_path / "b"), "--config", str(config), "--format", "trl"
    )
    assert flag.returncode == 0 and json.loads(flag.stdout)["format"] == "trl"  # flags win

    config.write_text('[export]\nformat = "csv"\n')
    bad_key = run_cli("export", str(out), str(tmp_path / "c"), "--config", str(config))
    cases = {
        "export.format: invalid enum value 'csv'": bad_key,
        "no such output directory": run_cli("export", str(tmp_path / "nope"), str(tmp_path / "d")),
        "exists and is not an empty directory": run_cli("export", str(out), str(tmp_path / "a")),
        "unknown preset 'ot9'": run_cli("export", str(out), str(tmp_path / "e"), "--preset", "ot9"),
        "--tokenizer: ": run_cli(
            "export", str(out), str(tmp_path / "f"), "--tokenizer", str(tmp_path / "no-model")
        ),
        "global batch 512 is not a multiple": run_cli(
            "export", str(out), str(tmp_path / "g"), "--format", "trl", "--gpus-per-node", "3"
        ),
    }
    for message, result in cases.items():
        assert result.returncode == 2, (message, result.stderr)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not any((tmp_path / name).exists() for name in "cdefg")
