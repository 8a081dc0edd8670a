"""Launch a training run: stock LLaMA-Factory or TRL on an export, on N nodes x G GPUs.

``plan`` turns a preset, an export and a topology into the trainer's config files and the
commands that run it: one command for this machine, one per node (``node.sh``, reading
``NODE_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``) and a Slurm batch script that runs it on
every node. LLaMA-Factory runs under ``torchrun`` (its own launcher module), TRL's SFT script
under ``accelerate launch``; one process on one device runs the script directly. Everything is
checked before anything starts: the preset fits the topology, the export is one the trainer
reads, the trainer is installed and the model loads.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Literal

import msgspec

from engine.errors import ConfigError
from engine.export.run import DATA, REPORT, ExportReport
from engine.train import configs
from engine.train.presets import Topology, TrainPreset

Backend = Literal["llamafactory", "trl"]
MASTER_PORT = 29500
INSTALL = {
    "llamafactory": "pip install 'llamafactory==0.9.5' (and 'deepspeed' for ZeRO on GPUs)",
    "trl": "pip install 'trl==1.16.0' (and 'deepspeed' for ZeRO on GPUs); on a CPU-only "
    "machine of this project, `bash .ci/train_env.sh` puts TRL into the vLLM venv",
}
_MODULE = {"llamafactory": "llamafactory.launcher", "trl": "trl.scripts.sft"}


class LaunchError(ConfigError):
    """The run cannot start; the message says what to fix."""


class Plan(msgspec.Struct):
    """What ``engine train`` writes and runs."""

    backend: Backend
    launch_dir: str
    config: str
    files: dict[str, str]  # file name in launch_dir -> text
    local: list[str]  # the command for this machine (one node)
    node: list[str]  # the command each node runs, with $NODE_RANK, $MASTER_ADDR, $MASTER_PORT


def export_format(data: Path) -> str:
    """The format of an export directory, from its report."""
    try:
        report = msgspec.json.decode((data / REPORT).read_bytes(), type=ExportReport)
    except FileNotFoundError:
        raise LaunchError(
            f"{data}: not an export (no {REPORT}); make one with "
            f"`python -m engine export OUTDIR {data} --format trl|llamafactory`"
        ) from None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise LaunchError(f"{data / REPORT}: unreadable: {error}") from None
    if not report.records_out:
        raise LaunchError(f"{data}: the export has no records")
    return report.format


def default_backend(fmt: str) -> Backend:
    return "trl" if fmt == "trl" else "llamafactory"


def plan(
    preset: TrainPreset,
    name: str,
    data: Path,
    backend: Backend,
    topology: Topology,
    output_dir: Path,
    python: str,
    model: str | None = None,
) -> Plan:
    """The files and commands of one run (nothing is written yet)."""
    fmt = export_format(data)
    wanted = ("llamafactory", "sharegpt") if backend == "llamafactory" else ("trl",)
    if fmt not in wanted:
        raise LaunchError(
            f"{data}: a {fmt!r} export; --backend {backend} reads "
            f"{' or '.join(repr(w) for w in wanted)} (python -m engine export --format {wanted[0]})"
        )
    data = data.resolve()
    launch = output_dir.resolve() / "launch"
    gpus = topology.gpus_per_node > 0
    files: dict[str, str] = {}
    if backend == "llamafactory":
        deepspeed = None
        if preset.deepspeed != "none" and gpus:
            files["deepspeed.json"] = configs.json_text(configs.deepspeed_config(preset))
            deepspeed = str(launch / "deepspeed.json")
        files["dataset_info.json"] = configs.json_text(configs.dataset_info(str(data / DATA)))
        args = configs.llamafactory_args(
            preset, topology, str(launch), str(output_dir.resolve()), model, deepspeed
        )
        config = "train.yaml"
    else:
        args = configs.trl_args(
            preset, topology, str(data / DATA), str(output_dir.resolve()), model
        )
        config = "sft.yaml"
        if topology.devices > 1:
            accelerate = configs.accelerate_config(preset, topology)
            files["accelerate.yaml"] = configs.yaml_text(accelerate)
    files[config] = configs.yaml_text(args)
    config_path = str(launch / config)
    module = [python, "-m", _MODULE[backend]]
    script = [*module, *([] if backend == "llamafactory" else ["--config"]), config_path]
    per_node = max(topology.gpus_per_node, 1)
    if backend == "llamafactory":
        launcher = [python, "-m", "torch.distributed.run", "--nnodes", str(topology.nodes)]
        node = [
            *launcher, "--node_rank", "$NODE_RANK", "--nproc_per_node", str(per_node),
            "--master_addr", "$MASTER_ADDR", "--master_port", "$MASTER_PORT",
            "-m", _MODULE[backend], config_path,
        ]  # fmt: skip
        local = [*launcher, "--nproc_per_node", str(per_node), "-m", _MODULE[backend], config_path]
    else:
        accelerate = [python, "-m", "accelerate.commands.launch"]
        if topology.devices > 1:
            accelerate += ["--config_file", str(launch / "accelerate.yaml")]
        node = [
            *accelerate, "--num_machines", str(topology.nodes),
            "--num_processes", str(topology.devices), "--machine_rank", "$NODE_RANK",
            "--main_process_ip", "$MASTER_ADDR", "--main_process_port", "$MASTER_PORT",
            "-m", _MODULE[backend], "--config", config_path,
        ]  # fmt: skip
        local = [*accelerate, "--num_processes", str(per_node), "-m", _MODULE[backend]]
        local += ["--config", config_path]
    if topology.nodes == 1 and per_node == 1:
        local = script  # one process: no launcher in between
    files["node.sh"] = _node_script(node, topology)
    files["train.sbatch"] = _sbatch(name, topology, launch)
    return Plan(backend, str(launch), config_path, files, local, node)


def shell_line(words: list[str]) -> str:
    """A shell line; ``$VARS`` stay unquoted so the shell expands them."""
    return " ".join(w if w.startswith("$") else shlex.quote(w) for w in words)


def _node_script(node: list[str], topology: Topology) -> str:
    return (
        "#!/usr/bin/env bash\n"
        f"# One node's part of a {topology.nodes} x {topology.gpus_per_node} GPU run. Set\n"
        "# NODE_RANK (0..nodes-1), MASTER_ADDR (node 0's address) and MASTER_PORT on each node.\n"
        "set -euo pipefail\n"
        f': "${{NODE_RANK:?}}" "${{MASTER_ADDR:?}}" "${{MASTER_PORT:={MASTER_PORT}}}"\n'
        f"exec {shell_line(node)}\n"
    )


def _sbatch(name: str, topology: Topology, launch: Path) -> str:
    node = shlex.quote(f"NODE_RANK=$SLURM_NODEID exec bash {shlex.quote(str(launch / 'node.sh'))}")
    gpus = f"#SBATCH --gpus-per-node={topology.gpus_per_node}\n" if topology.gpus_per_node else ""
    return (
        "#!/usr/bin/env bash\n"
        f"#SBATCH --job-name=thoughtmill-{name}\n"
        f"#SBATCH --nodes={topology.nodes}\n"
        "#SBATCH --ntasks-per-node=1\n"
        f"{gpus}"
        "#SBATCH --exclusive\n"
        f"#SBATCH --output={launch}/slurm-%j.out\n"
        "set -euo pipefail\n"
        'MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"\n'
        f"export MASTER_ADDR MASTER_PORT={MASTER_PORT}\n"
        f"srun --kill-on-bad-exit=1 bash -c {node}\n"
    )


def write(plan: Plan) -> list[Path]:
    """Write the plan's files into its launch folder."""
    launch = Path(plan.launch_dir)
    launch.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in plan.files.items():
        path = launch / name
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)
        paths.append(path)
    return paths


def missing(backend: Backend, python: str) -> str | None:
    """What to install when ``python`` cannot import the backend, else None."""
    probe = subprocess.run(
        [python, "-c", f"import {_MODULE[backend].split('.')[0]}"], capture_output=True, text=True
    )
    return None if probe.returncode == 0 else INSTALL[backend]


def check_model(model: str, python: str) -> None:
    """Fail now, in one line, when the trainer's python cannot load the model's config."""
    load = "import sys, transformers; transformers.AutoConfig.from_pretrained(sys.argv[1])"
    probe = subprocess.run([python, "-c", load, model], capture_output=True, text=True)
    if probe.returncode:
        lines = [line for line in probe.stderr.splitlines() if line.strip()] or ["(no message)"]
        raise LaunchError(f"model {model!r} cannot be loaded: {lines[-1].strip()}")
