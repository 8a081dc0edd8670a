"""Training presets: the OpenThoughts3 paper's released SFT settings as typed values.

Each value's comment names its source: [paper] the released SFT settings of "OpenThoughts: Data
Recipes for Reasoning Models" (Guha et al., 2025, arXiv:2506.04178) as issue 13 quotes them;
[as ot3-7b] not stated for the ablations, so the final run's value; [ours] a choice of ours that
the paper leaves open. OT3 trains with a fork of LLaMA-Factory whose config stock LLaMA-Factory
rejects; the presets say the same things the stock way:

- the fork's ``global_batch_size`` is no stock key: the global batch is
  ``per_device_train_batch_size x gradient_accumulation_steps x devices`` (``Topology.split``);
- the fork's ``qwen25`` template does not exist upstream: stock LLaMA-Factory's ``qwen``
  template renders Qwen2.5's ChatML turns.

A preset file (``--preset path.toml``) has the same keys, e.g. ``configs/train/tiny-cpu.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from engine.config import decode
from engine.errors import ConfigError
from engine.specs import Spec
from engine.tomlfile import read_toml

Positive = Annotated[int, msgspec.Meta(gt=0)]
Rate = Annotated[float, msgspec.Meta(gt=0)]
Ratio = Annotated[float, msgspec.Meta(ge=0, lt=1)]


class PresetError(ConfigError):
    """An unknown preset name, an unreadable preset file or a topology it cannot use."""


class TrainPreset(Spec):
    """One full fine-tune. ``template`` is a stock LLaMA-Factory template name (TRL uses the
    tokenizer's own chat template); ``deepspeed`` the ZeRO stage (``none`` for one device)."""

    model: str
    template: str
    deepspeed: Literal["none", "zero2", "zero3"]
    learning_rate: Rate
    epochs: Positive
    global_batch: Positive
    per_device_batch: Positive
    cutoff_len: Positive
    packing: bool
    scheduler: Literal["cosine", "linear", "constant_with_warmup"]
    warmup_ratio: Ratio
    bf16: bool
    logging_steps: Positive = 10


PRESETS: dict[str, TrainPreset] = {
    # OpenThinker3-7B, the paper's final model, trained on OpenThoughts3-1.2M.
    "ot3-7b": TrainPreset(
        model="Qwen/Qwen2.5-7B-Instruct",  # [paper] base model of OpenThinker3-7B
        template="qwen",  # [paper] the fork's `qwen25`, by its stock name
        deepspeed="zero3",  # [paper] full fine-tune under DeepSpeed ZeRO-3
        learning_rate=8e-5,  # [paper]
        epochs=5,  # [paper]
        global_batch=512,  # [paper] the fork's `global_batch_size: 512`
        per_device_batch=1,  # [ours] one 16k packed sequence per GPU; accumulation makes 512
        cutoff_len=16384,  # [paper]
        packing=True,  # [paper]
        scheduler="cosine",  # [paper]
        warmup_ratio=0.1,  # [paper]
        bf16=True,  # [paper]
    ),
    # The data-recipe ablations: smaller runs that compare candidate data sets.
    "ot3-ablation": TrainPreset(
        model="Qwen/Qwen2.5-7B-Instruct",  # [as ot3-7b]
        template="qwen",  # [as ot3-7b]
        deepspeed="zero3",  # [as ot3-7b]
        learning_rate=4e-5,  # [paper] ablation setting
        epochs=5,  # [as ot3-7b]
        global_batch=128,  # [paper] ablation setting
        per_device_batch=1,  # [ours] as ot3-7b
        cutoff_len=16384,  # [as ot3-7b]
        packing=False,  # [paper] ablation setting: no packing
        scheduler="cosine",  # [as ot3-7b]
        warmup_ratio=0.1,  # [as ot3-7b]
        bf16=True,  # [as ot3-7b]
    ),
}


def load_preset(name: str) -> TrainPreset:
    """A built-in preset by name, or a preset TOML file by path."""
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name)
    if path.suffix != ".toml":
        known = ", ".join(sorted(PRESETS))
        raise PresetError(f"unknown preset {name!r} (built in: {known}; or a .toml file)")
    return decode(read_toml(path), TrainPreset, str(path))


class Topology(msgspec.Struct, frozen=True):
    """Where training runs: ``nodes`` machines with ``gpus_per_node`` GPUs each (0: one CPU
    process per node, for tests and demos)."""

    nodes: Positive = 1
    gpus_per_node: Annotated[int, msgspec.Meta(ge=0)] = 8

    @property
    def devices(self) -> int:
        """Training processes in all: one per GPU, or one per node on the CPU."""
        return self.nodes * max(self.gpus_per_node, 1)

    def accumulation(self, preset: TrainPreset) -> int:
        """Gradient accumulation steps that make the preset's global batch on this topology."""
        per_step = preset.per_device_batch * self.devices
        steps, rest = divmod(preset.global_batch, per_step)
        if rest or not steps:
            raise PresetError(
                f"global batch {preset.global_batch} is not a multiple of per-device batch "
                f"{preset.per_device_batch} x {self.devices} devices"
            )
        return steps
