"""A preset on a topology as the stock tools' own config files, with stock keys only.

LLaMA-Factory: a ``llamafactory-cli train`` YAML (its ``ModelArguments``, ``DataArguments``,
``FinetuningArguments`` and transformers' ``TrainingArguments``) and a ``dataset_info.json``;
TRL: a ``trl.scripts.sft`` YAML (``ScriptArguments``, ``SFTConfig``, ``ModelConfig``);
DeepSpeed: the Hugging Face integration's ``"auto"`` config; accelerate: a launch config.
"""

from __future__ import annotations

import json

from engine.export.formats import SHAREGPT_TAGS
from engine.train.presets import Topology, TrainPreset

DATASET = "thoughtmill"  # the dataset's name in dataset_info.json
Scalar = str | int | float | bool
ZERO_STAGE = {"zero2": 2, "zero3": 3}


def dataset_info(data_dir: str) -> dict[str, object]:
    """LLaMA-Factory's dataset_info.json: every file in ``data_dir`` (relative to the
    ``dataset_dir``), sharegpt formatting with our ``conversations`` column and tags."""
    return {
        DATASET: {
            "file_name": data_dir,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": SHAREGPT_TAGS,
        }
    }


def _common(preset: TrainPreset, topology: Topology, model: str | None, output_dir: str):
    """The transformers TrainingArguments both tools take, under the same names."""
    args: dict[str, Scalar] = {
        "output_dir": output_dir,
        "per_device_train_batch_size": preset.per_device_batch,
        "gradient_accumulation_steps": topology.accumulation(preset),
        "learning_rate": preset.learning_rate,
        "num_train_epochs": preset.epochs,
        "lr_scheduler_type": preset.scheduler,
        "bf16": preset.bf16,
        "logging_steps": preset.logging_steps,
        "save_strategy": "epoch",
        "save_only_model": True,
        "report_to": "none",
    }
    if topology.gpus_per_node == 0:
        args["use_cpu"] = True
    return {"model_name_or_path": model or preset.model} | args


def llamafactory_args(
    preset: TrainPreset,
    topology: Topology,
    dataset_dir: str,
    output_dir: str,
    model: str | None = None,
    deepspeed: str | None = None,
) -> dict[str, Scalar]:
    """``llamafactory-cli train`` keys; ``deepspeed`` is the path of the DeepSpeed config."""
    args = _common(preset, topology, model, output_dir) | {
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full",
        "dataset": DATASET,
        "dataset_dir": dataset_dir,
        "template": preset.template,
        "cutoff_len": preset.cutoff_len,
        "packing": preset.packing,
        "warmup_ratio": preset.warmup_ratio,  # accepted by every transformers LF 0.9.5 takes
    }
    if deepspeed is not None:
        args["deepspeed"] = deepspeed
    return args


def trl_args(
    preset: TrainPreset,
    topology: Topology,
    data_dir: str,
    output_dir: str,
    model: str | None = None,
) -> dict[str, Scalar]:
    """``python -m trl.scripts.sft --config`` keys (TRL >= 1.0 on transformers >= 5)."""
    return _common(preset, topology, model, output_dir) | {
        "dataset_name": data_dir,  # a local folder: load_dataset(folder) reads its data files
        "max_length": preset.cutoff_len,
        "packing": preset.packing,
        "warmup_steps": preset.warmup_ratio,  # transformers 5: a float below 1 is a ratio
    }


def deepspeed_config(preset: TrainPreset) -> dict[str, object]:
    """DeepSpeed ZeRO config whose sizes the Trainer fills in ("auto")."""
    assert preset.deepspeed != "none"
    stage = ZERO_STAGE[preset.deepspeed]
    zero: dict[str, object] = {
        "stage": stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
        "reduce_bucket_size": "auto",
    }
    if stage == 3:
        zero |= {
            "sub_group_size": 1e9,
            "stage3_prefetch_bucket_size": "auto",
            "stage3_param_persistence_threshold": "auto",
            "stage3_max_live_parameters": 1e9,
            "stage3_max_reuse_distance": 1e9,
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    return {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
    }


def accelerate_config(preset: TrainPreset, topology: Topology) -> dict[str, Scalar | dict]:
    """``accelerate launch --config_file``: processes, machines, DeepSpeed plugin."""
    config: dict[str, Scalar | dict] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": "MULTI_GPU" if topology.devices > 1 else "NO",
        "mixed_precision": "bf16" if preset.bf16 else "no",
        "num_machines": topology.nodes,
        "num_processes": topology.devices,
        "machine_rank": 0,
        "main_training_function": "main",
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": topology.gpus_per_node == 0,
    }
    if preset.deepspeed != "none" and topology.gpus_per_node:
        config["distributed_type"] = "DEEPSPEED"
        config["deepspeed_config"] = {
            "zero_stage": ZERO_STAGE[preset.deepspeed],
            "zero3_init_flag": preset.deepspeed == "zero3",
            "zero3_save_16bit_model": preset.deepspeed == "zero3",
            "offload_optimizer_device": "none",
            "offload_param_device": "none",
            "deepspeed_multinode_launcher": "standard",
        }
    return config


def yaml_scalar(value: Scalar) -> str:
    """A scalar as YAML 1.1 reads it back: JSON, with a dot in every float (PyYAML takes
    ``8e-05`` for a string, ``8.0e-05`` for a float)."""
    text = json.dumps(value)
    if isinstance(value, float) and "." not in text and "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def yaml_text(mapping: dict) -> str:
    """YAML for a mapping of scalars and nested mappings."""
    lines: list[str] = []

    def emit(items: dict, indent: str) -> None:
        for key, value in items.items():
            if isinstance(value, dict):
                lines.append(f"{indent}{key}:")
                emit(value, indent + "  ")
            else:
                lines.append(f"{indent}{key}: {yaml_scalar(value)}")

    emit(mapping, "")
    return "\n".join(lines) + "\n"


def json_text(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"
