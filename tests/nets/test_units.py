"""A user's model by import path: units, copy, freeze, re-initialisation, errors."""

import dataclasses
import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from featuretransfer.nets import units
from featuretransfer.nets.factory import resolve_model
from featuretransfer.nets.registry import build_model
from featuretransfer.nets.treatments import freeze
from featuretransfer.nets.units import ModelError, UnitNet, check_units, wrap
from featuretransfer.run.images import Images
from featuretransfer.run.train import train
from featuretransfer.specs import NetSpec, TrainSpec

EXAMPLES = Path(__file__).parents[2] / "examples"
UNITS = ["stem", "block1", "block2", "block3", "head"]


def example_net(**changes) -> NetSpec:
    net = resolve_model(NetSpec(name="my_nets:build"), EXAMPLES, "my_nets.py", UNITS, {"width": 4})
    return dataclasses.replace(net, **changes)


def random_images(n: int = 64, classes: int = 3) -> Images:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return Images(x, torch.randint(0, classes, (n,), generator=g), 100.0, 60.0)


def snapshot(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}  # parameters and buffers


class Residual(nn.Module):
    """Units that do not compose the forward pass (a skip connection spans them)."""

    def __init__(self, n_classes: int, in_channels: int, image_size: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 4, 3, padding=1), nn.BatchNorm2d(4))
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.2))
        self.head = nn.Linear(4, n_classes)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        return self.head((y + self.body(y)).mean((2, 3)))


def test_same_seed_same_net_other_seed_other_net():
    a, b, c = (build_model(example_net(), 3, seed=s).state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["block1.0.weight"], c["block1.0.weight"])


def test_units_compose_the_forward_pass_of_a_sequential():
    model = build_model(example_net(), 3, seed=0).eval()
    assert model.composes and model.n_deterministic == 5
    x = torch.randn(2, 1, 28, 28)
    for n in range(1, 5):
        assert torch.allclose(model(model(x, stop=n), start=n), model(x), atol=1e-5)


def test_units_that_miss_or_double_a_parameter_are_refused():
    model = Residual(3, 1, 28)
    with pytest.raises(ModelError, match=r"in no unit: body\.0\.weight, body\.0\.bias"):
        check_units(model, ("stem", "head"), "model")
    with pytest.raises(ModelError, match=r"in two units: body\.0\.weight \(in body and body\.0\)"):
        check_units(model, ("stem", "body", "body.0", "head"), "model")
    with pytest.raises(ModelError, match="'stme' names no submodule"):
        check_units(model, ("stme", "body", "head"), "model")
    check_units(model, ("stem", "body", "head"), "model")
    check_units(model, ("stem", "body+head"), "model")  # "+" joins submodules into one unit


def test_a_model_whose_units_do_not_compose_trains_uncached(caplog, monkeypatch):
    monkeypatch.setattr(units, "_LOGGED", set())  # said once per process: forget earlier tests
    with caplog.at_level(logging.WARNING):
        model = wrap(Residual(3, 1, 28), ("stem", "body", "head"), 3, 1, 28, seed=0)
    assert "uncached" in caplog.text
    assert not model.composes and model.n_deterministic == 0
    with pytest.raises(ModelError, match="do not compose the forward pass"):
        model(torch.zeros(1, 1, 28, 28), stop=1)
    freeze(model, 2)
    model.train()
    assert model.model.body[2].training  # dropout stays on in a frozen unit; norms do not
    assert not model.model.body[1].training
    before = snapshot(model)
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


def test_a_unit_that_cannot_be_reinitialised_is_an_error():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.gain

    model = nn.Sequential(Scale(), nn.Flatten(), nn.Linear(28 * 28, 3))
    with pytest.raises(ModelError, match="unit '0' has parameters but no submodule"):
        wrap(model, ("0", "2"), 3, 1, 28, seed=0)


def test_factory_errors_are_one_line_naming_the_key(tmp_path):
    (tmp_path / "bad.py").write_text(
        "from torch import nn\n"
        "def fails(n_classes, in_channels, image_size):\n    raise RuntimeError('no')\n"
        "def wide(n_classes, in_channels, image_size):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(image_size ** 2, n_classes + 1))\n"
        "def not_a_module(n_classes, in_channels, image_size):\n    return 3\n"
    )

    def build(factory, units=("1",)):
        net = resolve_model(NetSpec(name=f"bad:{factory}"), tmp_path, "bad.py", list(units))
        return build_model(net, 3, seed=0)

    with pytest.raises(ModelError, match=r"model.name = 'bad:fails': the factory failed .* no"):
        build("fails")
    with pytest.raises(ModelError, match=r"output has shape \(2, 4\) .* not \(2, 3\)"):
        build("wide", ("0", "1"))
    with pytest.raises(ModelError, match="returned a int, not a torch.nn.Module"):
        build("not_a_module")
    with pytest.raises(ModelError, match="has no callable 'missing'"):
        build("missing")
    with pytest.raises(ModelError, match="model.file = 'nope.py'"):
        resolve_model(NetSpec(name="bad:fails"), tmp_path, "nope.py", ["0"])
    with pytest.raises(ModelError, match="model.units is missing"):
        resolve_model(NetSpec(name="bad:fails"), tmp_path, "bad.py", None)


def test_a_module_on_the_path_and_the_file_content_enter_the_job_id(tmp_path, monkeypatch):
    source = (EXAMPLES / "my_nets.py").read_text()
    (tmp_path / "path_nets.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = resolve_model(NetSpec(name="path_nets:build"), tmp_path, None, UNITS, {"width": 4})
    assert net.path is None and len(net.code_sha256) == 64
    assert isinstance(build_model(net, 3, seed=0), UnitNet)
    by_file = example_net()
    assert by_file.code_sha256 == net.code_sha256  # the same code
    (tmp_path / "my_nets.py").write_text(source + "\n# edited\n")
    edited = resolve_model(NetSpec(name="my_nets:build"), tmp_path, "my_nets.py", UNITS)
    assert edited.code_sha256 != by_file.code_sha256
