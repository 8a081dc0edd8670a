"""Load a ``llamafactory`` export with stock LLaMA-Factory's own argument parser and loader.

Usage (in the LLaMA-Factory venv of .ci/train_env.sh): ``python llamafactory_check.py DEST``.
Parses DEST/train.yaml as it is with ``get_train_args`` (unknown keys are errors: the
ALLOW_EXTRA_ARGS escape hatch is off), loads the data through ``dataset_info.json`` with
``get_dataset`` (sharegpt converter, template, tokenization, label masking) and prints one JSON
line with what it saw.

PyPI has no torchaudio for the CPU torch of these machines, and LLaMA-Factory's multimodal
plugin imports it at module level; text SFT never calls it, so an empty module stands in.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import sys
import types

try:
    import torchaudio  # noqa: F401
except ImportError:
    stub = types.ModuleType("torchaudio")
    stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules["torchaudio"] = stub

import yaml
from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
from llamafactory.extras.constants import IGNORE_INDEX
from llamafactory.hparams import get_train_args
from llamafactory.model import load_tokenizer


def main(dest: str) -> None:
    os.environ.pop("ALLOW_EXTRA_ARGS", None)
    with open(os.path.join(dest, "train.yaml")) as f:
        args = yaml.safe_load(f)
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(args)
    loaded = load_tokenizer(model_args)
    tokenizer = loaded["tokenizer"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, stage="sft", **loaded)
    train = module["train_dataset"]
    labels = [[t for t in row["labels"] if t != IGNORE_INDEX] for row in train]
    print(
        json.dumps(
            {
                "examples": len(train),
                "with_labels": sum(bool(ids) for ids in labels),
                "longest": max(len(row["input_ids"]) for row in train),
                "cutoff_len": data_args.cutoff_len,
                "template": data_args.template,
                "finetuning_type": finetuning_args.finetuning_type,
                "learning_rate": training_args.learning_rate,
                "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
                "first_prompt": tokenizer.decode(train[0]["input_ids"][:64]),
                "first_labels": tokenizer.decode(labels[0]),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
