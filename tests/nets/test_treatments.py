import pytest
import torch
from torch import nn

from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.registry import build_model
from featuretransfer.nets.treatments import (
    TreatmentError,
    copy_layers,
    freeze,
    trainable_parameters,
)
from featuretransfer.run.images import Images
from featuretransfer.run.train import train
from featuretransfer.specs import NetSpec, TrainSpec


class NormNet(LayeredNet):
    """A 3-layer net with batch norm, to check that frozen layers keep their running stats."""

    layer_names = ("block1", "block2", "head")

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.block2 = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.head = nn.Linear(4 * 28 * 28, 3)
        self.after = nn.ModuleDict(
            {"block1": nn.ReLU(), "block2": nn.Flatten(), "head": nn.Identity()}
        )


def random_images(n: int = 64, classes: int = 3) -> Images:
    g = torch.Generator().manual_seed(0)
    return Images(
        torch.randint(0, 255, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
        torch.randint(0, classes, (n,), generator=g),
        100.0,
        60.0,
    )


def snapshot(module: nn.Module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}  # params and buffers


def test_frozen_norm_layers_keep_their_statistics():
    model = NormNet()
    freeze(model, 2)
    before = snapshot(model)
    model.train()
    assert not model.block1[1].training and not model.block2[1].training
    train(
        model,
        random_images(),
        random_images(16),
        TrainSpec(epochs=1, batch_size=16, precision="fp32"),
        seed=0,
    )
    after = model.state_dict()
    for key in before:
        assert torch.equal(after[key], before[key]) == (not key.startswith("head")), key


def test_optimiser_holds_no_frozen_parameter():
    model = build_model(NetSpec(width=0.1), 3, seed=0)
    freeze(model, 5)
    frozen = {id(p) for i in range(1, 6) for p in model.layer(i).parameters()}
    assert trainable_parameters(model)
    assert not frozen & {id(p) for p in trainable_parameters(model).values()}


@pytest.mark.parametrize("n", [0, 8, -1])
def test_cut_outside_range(n):
    model = build_model(NetSpec(width=0.1), 3, seed=0)
    with pytest.raises(TreatmentError, match="outside 1..7"):
        freeze(model, n)
    with pytest.raises(TreatmentError, match="outside 1..7"):
        copy_layers(model.state_dict(), model, n)


def test_parent_of_another_architecture():
    wide = build_model(NetSpec(width=0.5), 3, seed=0)
    narrow = build_model(NetSpec(width=0.25), 3, seed=0)
    with pytest.raises(TreatmentError, match="conv1.weight has shape"):
        copy_layers(wide.state_dict(), narrow, 2)
    with pytest.raises(TreatmentError, match="parent has no conv1.weight"):
        copy_layers(NormNet().state_dict(), narrow, 2)
