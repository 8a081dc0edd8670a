"""OT3 presets as stock settings: the global batch split per topology, stock template names,
preset files, and no key of OT3's LLaMA-Factory fork in what we write."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.train import configs
from engine.train.presets import PRESETS, PresetError, Topology, load_preset
from tests.engine.train.env import TINY_PRESET


def test_ot3_presets_carry_the_papers_settings():
    final, ablation = PRESETS["ot3-7b"], PRESETS["ot3-ablation"]
    assert (final.model, final.template, final.deepspeed) == (
        "Qwen/Qwen2.5-7B-Instruct", "qwen", "zero3"
    )  # fmt: skip
    assert (final.learning_rate, final.epochs, final.global_batch, final.cutoff_len) == (
        8e-5, 5, 512, 16384
    )  # fmt: skip
    assert (final.packing, final.scheduler, final.warmup_ratio, final.bf16) == (
        True, "cosine", 0.1, True
    )  # fmt: skip
    assert (ablation.global_batch, ablation.learning_rate, ablation.packing) == (128, 4e-5, False)


@pytest.mark.parametrize(
    ("nodes", "gpus", "accumulation"),
    [(1, 8, 64), (4, 8, 16), (8, 8, 8), (64, 8, 1), (1, 0, 512)],
)
def test_global_batch_is_per_device_x_accumulation_x_devices(nodes, gpus, accumulation):
    preset = PRESETS["ot3-7b"]
    topology = Topology(nodes, gpus)
    assert topology.accumulation(preset) == accumulation
    args = configs.llamafactory_args(preset, topology, "/d", "/o")
    assert (
        args["per_device_train_batch_size"] * args["gradient_accumulation_steps"] * topology.devices
        == 512
    )


@pytest.mark.parametrize(("nodes", "gpus"), [(1, 3), (128, 8)])
def test_a_batch_that_does_not_divide_is_an_error(nodes, gpus):
    with pytest.raises(PresetError, match="global batch 512 is not a multiple"):
        Topology(nodes, gpus).accumulation(PRESETS["ot3-7b"])


def test_no_key_or_template_of_the_ot3_fork():
    for preset in PRESETS.values():
        for args in (
            configs.llamafactory_args(preset, Topology(), "/d", "/o", deepspeed="/ds.json"),
            configs.trl_args(preset, Topology(), "/d", "/o"),
        ):
            assert "global_batch_size" not in args and args.get("template") != "qwen25"


def test_preset_files_and_their_errors(tmp_path):
    tiny = load_preset(str(TINY_PRESET))
    assert (tiny.global_batch, tiny.per_device_batch, tiny.deepspeed) == (4, 4, "none")
    assert Topology(1, 0).accumulation(tiny) == 1
    with pytest.raises(PresetError, match=r"unknown preset 'ot3-70b'.*ot3-7b, ot3-ablation"):
        load_preset("ot3-70b")
    with pytest.raises(ConfigError, match="cannot read"):
        load_preset(str(tmp_path / "absent.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY_PRESET.read_text().replace("learning_rate = 1.0e-3", 'learning_rate = "x"'))
    with pytest.raises(ConfigError, match=r"bad\.toml: learning_rate: expected float, got str"):
        load_preset(str(bad))
    bad.write_text(TINY_PRESET.read_text() + "global_batch_size = 512\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: global_batch_size: unknown key"):
        load_preset(str(bad))


def test_yaml_floats_read_back_as_floats():
    assert configs.yaml_scalar(8e-5) == "8.0e-05" and configs.yaml_scalar(0.1) == "0.1"
    assert configs.yaml_scalar(1e9) == "1000000000.0" and configs.yaml_scalar("a b") == '"a b"'
