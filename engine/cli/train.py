"""``train``: fine-tune on an export with stock LLaMA-Factory or TRL. A preset, export, trainer
or model that is not right is a ConfigError (one line, exit 2) before anything starts."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from engine.exits import Exit


def cmd_train(args: argparse.Namespace) -> int:
    from engine.train import launch
    from engine.train.presets import Topology, load_preset

    preset = load_preset(args.preset)
    data = Path(args.data)
    backend = args.backend or launch.default_backend(launch.export_format(data))
    topology = Topology(args.nodes, args.gpus_per_node)
    name = Path(args.preset).stem
    output_dir = Path(args.output_dir or f"saves/{name}")
    python = args.python or sys.executable
    plan = launch.plan(preset, name, data, backend, topology, output_dir, python, args.model)
    hint = launch.missing(backend, python)
    if args.run:
        if topology.nodes > 1:
            raise launch.LaunchError(
                f"--run starts this machine only: for {topology.nodes} nodes submit "
                "launch/train.sbatch or run launch/node.sh on each node"
            )
        if hint:
            raise launch.LaunchError(f"{backend} is not installed in {python}: {hint}")
        launch.check_model(args.model or preset.model, python)
    written = launch.write(plan)
    print(f"wrote {', '.join(str(p) for p in written)}")
    if topology.nodes == 1:
        print(f"this machine:  {launch.shell_line(plan.local)}")
    print(f"each node:     NODE_RANK=.. MASTER_ADDR=.. bash {plan.launch_dir}/node.sh")
    print(f"slurm:         sbatch {plan.launch_dir}/train.sbatch")
    if not args.run:
        if hint:
            print(f"to install {backend}: {hint}")
        if topology.nodes == 1:
            print("add --run to start it on this machine")
        return Exit.OK
    return Exit.OK if subprocess.run(plan.local).returncode == 0 else Exit.FAILED


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune on an export: stock LLaMA-Factory or TRL, 1 or N nodes",
        description="Write the trainer's config, the per-node command and a Slurm script for "
        "--nodes x --gpus-per-node (the preset's global batch = per-device batch x gradient "
        "accumulation x devices); with --run, start it on this machine.",
    )
    p.add_argument("--preset", required=True, help="ot3-7b, ot3-ablation, or a preset .toml")
    p.add_argument("--data", required=True, help="an export directory (python -m engine export)")
    p.add_argument("--backend", choices=["llamafactory", "trl"], help="default: from the export")
    p.add_argument("--nodes", type=int, default=1, help="machines to train on (default: 1)")
    p.add_argument("--gpus-per-node", type=int, default=8, help="0: one CPU process per node")
    p.add_argument("--model", help="override the preset's model (a path or hub name)")
    p.add_argument("--output-dir", help="checkpoints (default: saves/PRESET)")
    p.add_argument("--python", help="the trainer's python (default: this one)")
    p.add_argument("--run", action="store_true", help="start the run on this machine")
    p.set_defaults(handler=cmd_train)
