"""`engine train`: the files and commands for N nodes x G GPUs, what to install, and one-line
errors (exit 2) before anything starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.export import ExportSpec, export
from engine.job import Job
from tests.engine.train.env import TINY_PRESET, require_trl, venv_engine
from tests.helpers import run_cli, write_questions
from tests.vllm_support.harness import PYTHON


@pytest.fixture
async def exports(tmp_path, mock_teacher, make_recipe) -> Path:
    """A small job exported as trl, llamafactory and messages under tmp_path/{format}."""
    questions = write_questions(tmp_path / "q.jsonl", 4)
    async with mock_teacher(answer_key=str(questions)) as server:
        recipe = make_recipe(server.url, questions, verify="math = { enabled = false }")
        assert await Job(recipe).run() == 0
    for fmt in ("trl", "llamafactory", "messages"):
        export(tmp_path / "out", tmp_path / fmt, ExportSpec(format=fmt))
    return tmp_path


def train(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("train", *args)


def test_trl_on_four_nodes_writes_accelerate_node_and_slurm_files(exports):
    out = exports / "run"
    done = train("--preset", "ot3-7b", "--data", str(exports / "trl"), "--nodes", "4",
                 "--output-dir", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    launch = out.resolve() / "launch"
    assert sorted(p.name for p in launch.iterdir()) == [
        "accelerate.yaml", "node.sh", "sft.yaml", "train.sbatch"
    ]  # fmt: skip
    sft = (launch / "sft.yaml").read_text()
    assert "gradient_accumulation_steps: 16\n" in sft and "per_device_train_batch_size: 1\n" in sft
    assert f'dataset_name: "{(exports / "trl" / "data").resolve()}"' in sft
    accelerate = (launch / "accelerate.yaml").read_text()
    assert "num_machines: 4\nnum_processes: 32\n" in accelerate
    assert 'distributed_type: "DEEPSPEED"' in accelerate and "zero_stage: 3" in accelerate
    node = (launch / "node.sh").read_text()
    assert "-m accelerate.commands.launch" in node and "--machine_rank $NODE_RANK" in node
    assert "--num_machines 4 --num_processes 32" in node and "-m trl.scripts.sft --config" in node
    sbatch = (launch / "train.sbatch").read_text()
    assert "#SBATCH --nodes=4\n" in sbatch and "#SBATCH --gpus-per-node=8\n" in sbatch
    assert "NODE_RANK=$SLURM_NODEID exec bash" in sbatch
    for script in ("node.sh", "train.sbatch"):  # valid shell
        assert subprocess.run(["bash", "-n", str(launch / script)]).returncode == 0
    assert "sbatch " in done.stdout and "this machine:" not in done.stdout  # 4 nodes: not here
    assert "to install trl: pip install 'trl==1.16.0'" in done.stdout  # not in this python


def test_llamafactory_on_one_node_runs_torchrun_with_its_launcher(exports):
    out = exports / "lf-run"
    done = train("--preset", "ot3-ablation", "--data", str(exports / "llamafactory"),
                 "--output-dir", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    launch = out.resolve() / "launch"
    yaml = (launch / "train.yaml").read_text()
    assert "gradient_accumulation_steps: 16\n" in yaml and "learning_rate: 4.0e-05\n" in yaml
    assert f'dataset_dir: "{launch}"' in yaml and f'deepspeed: "{launch}/deepspeed.json"' in yaml
    info = (launch / "dataset_info.json").read_text()
    assert f'"file_name": "{(exports / "llamafactory" / "data").resolve()}"' in info
    torchrun = "-m torch.distributed.run --nnodes 1 --nproc_per_node 8 -m llamafactory.launcher"
    assert torchrun in done.stdout
    assert "--node_rank $NODE_RANK" in (launch / "node.sh").read_text()
    assert "to install llamafactory: pip install 'llamafactory==0.9.5'" in done.stdout


def test_errors_are_one_line_and_nothing_starts(exports, tmp_path):
    data = str(exports / "trl")
    cases = {
        "unknown preset 'ot4'": train("--preset", "ot4", "--data", data),
        "not an export (no export.json)": train("--preset", "ot3-7b", "--data", str(tmp_path)),
        "a 'messages' export; --backend trl reads 'trl'": train(
            "--preset", "ot3-7b", "--data", str(exports / "messages"), "--backend", "trl"
        ),
        "global batch 512 is not a multiple": train(
            "--preset", "ot3-7b", "--data", data, "--gpus-per-node", "5"
        ),
        "--run starts this machine only": train(
            "--preset", "ot3-7b", "--data", data, "--nodes", "2", "--run"
        ),
        "trl is not installed in": train(
            "--preset", str(TINY_PRESET), "--data", data, "--gpus-per-node", "0", "--run"
        ),
    }
    for message, result in cases.items():
        assert result.returncode == 2, (message, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (Path("saves")).exists()


@pytest.mark.train
def test_a_model_that_cannot_load_stops_the_run_before_it_starts(exports, tmp_path):
    require_trl()
    done = venv_engine(
        "train", "--preset", str(TINY_PRESET), "--data", str(exports / "trl"),
        "--gpus-per-node", "0", "--model", str(tmp_path / "no-such-model"),
        "--output-dir", str(tmp_path / "ckpt"), "--python", str(PYTHON), "--run",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: model ") and "cannot be loaded" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "ckpt").glob("checkpoint-*"))
