"""The contract every layered net keeps, whatever its family, written once: every tensor of the
model (parameters and buffers) belongs to exactly one unit; at a cut n the units 1..n copied from
a trained parent equal it, batch-norm statistics included; the units above are re-initialised
(their weights differ from the parent's); after training, the frozen units are bit-identical and
the units above have trained. Over every built-in model, a user's model by import path and each
Hugging Face family (tiny configs, random weights)."""

from pathlib import Path

import pytest
import torch
from conftest import tiny_hf_config

from featuretransfer.nets.factory import resolve_model
from featuretransfer.nets.registry import build_model
from featuretransfer.nets.treatments import copy_layers, freeze, trainable_parameters
from featuretransfer.run.images import Images
from featuretransfer.run.train import train
from featuretransfer.specs import NetSpec, TrainSpec

EXAMPLES = Path(__file__).parents[2] / "examples"
TRAIN = TrainSpec(epochs=1, batch_size=16, lr=0.05, precision="fp32")
BUILT_IN = {  # (spec, image side, channels)
    "convnet8": (NetSpec(width=0.1), 28, 1),
    "caffenet": (NetSpec(name="caffenet", width=0.0625, dropout=0.0), 67, 3),
    "resnet18": (NetSpec(name="resnet18", width=0.125, dropout=0.0), 28, 1),
    "vit": (NetSpec(name="vit", width=0.25, dropout=0.0), 28, 1),
}
HF_FAMILIES = ("hf-vit", "hf-resnet", "hf-convnext")
FAMILIES = [*BUILT_IN, "user", *HF_FAMILIES]


def spec_of(family: str, tmp_path: Path) -> tuple[NetSpec, int, int]:
    """(the model's spec, image side, channels) of a family."""
    if family in BUILT_IN:
        return BUILT_IN[family]
    if family == "user":
        units = ["stem", "block1", "block2", "block3", "head"]
        net = resolve_model(NetSpec(name="my_nets:build"), EXAMPLES, "my_nets.py", units, {})
        return net, 28, 1
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = tiny_hf_config(family.removeprefix("hf-"), 3)
    transformers.AutoModelForImageClassification.from_config(config).save_pretrained(tmp_path)
    net = resolve_model(NetSpec(name=f"hf:{tmp_path.name}"), tmp_path.parent, None, None, None)
    return net, 28, 1


def images(n: int, side: int, channels: int, seed: int) -> Images:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 255, (n, channels, side, side), generator=g, dtype=torch.uint8)
    return Images(x, torch.randint(0, 3, (n,), generator=g), 100.0, 60.0)


def fit(model, side: int, channels: int, seed: int) -> None:
    train(model, images(64, side, channels, seed), images(16, side, channels, 9), TRAIN, seed)


def weights(model, keys) -> list[str]:
    """The float tensors of more than one dimension: what initialisation and training set."""
    state = model.state_dict()
    return [k for k in keys if state[k].is_floating_point() and state[k].dim() > 1]


@pytest.mark.parametrize("family", FAMILIES)
def test_copied_units_equal_their_parent_frozen_ones_stay_and_the_rest_trains(family, tmp_path):
    net, side, channels = spec_of(family, tmp_path)
    parent = build_model(net, 3, seed=1, in_channels=channels, image_size=side)
    fit(parent, side, channels, seed=1)  # trained: its batch-norm statistics are its own
    for n in (1, parent.n_layers - 1):  # the lowest and the highest cut
        model = build_model(net, 3, seed=2, in_channels=channels, image_size=side)
        units = [model.layer_keys(name) for name in model.layer_names]
        keys = [k for unit in units for k in unit]
        assert sorted(keys) == sorted(model.state_dict()), "a tensor in no unit or in two"
        copied, above = keys[: sum(map(len, units[:n]))], keys[sum(map(len, units[:n])) :]
        copy_layers(parent.state_dict(), model, n)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        for key in copied:
            assert torch.equal(before[key], parent.state_dict()[key]), (n, key)
        for key in weights(model, above):  # re-initialised from the job's own seed
            assert not torch.equal(before[key], parent.state_dict()[key]), (n, key)
        freeze(model, n)
        assert not set(trainable_parameters(model)) & set(copied)
        fit(model, side, channels, seed=0)
        after = model.state_dict()
        for key in copied:  # parameters and buffers (norm statistics) bit for bit
            assert torch.equal(after[key], before[key]), (n, key)
        trained = [k for k in weights(model, above) if not torch.equal(after[k], before[k])]
        assert trained == weights(model, above), (n, "untrained above the cut")
