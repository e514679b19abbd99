"""The image sample, the reduction of large layers, and layer features of a saved net: for
built-in nets, an nn.Sequential of units, a user's class whose units do not compose its forward
pass, and Hugging Face ViT and ResNet, each checked against the unit's output computed by hand."""

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import tiny_hf_config
from torch import nn

from featuretransfer import store
from featuretransfer.analysis.features import (
    EstimateError,
    layer_features,
    layer_outputs,
    load_net,
    reduce,
    target_sample,
)
from featuretransfer.data.registry import with_fingerprint
from featuretransfer.nets.factory import resolve_model
from featuretransfer.nets.registry import build_model
from featuretransfer.nets.units import wrap
from featuretransfer.run.job import target_data
from featuretransfer.specs import DataSpec, NetSpec, TrainSpec


def sample(fake_data, seed=0, per_class=0, n_fit=50):
    data = with_fingerprint(DataSpec(n_val=40, path=str(fake_data), n_train_per_class=per_class))
    return target_sample(data, TrainSpec(), (2, 4, 5, 6, 9), n_fit, 10, seed)


def test_sample_is_seeded_and_holds_only_the_target_half(fake_data):
    first, again, other = sample(fake_data), sample(fake_data), sample(fake_data, seed=1)
    assert torch.equal(first.fit_x, again.fit_x) and torch.equal(first.held_y, again.held_y)
    assert not torch.equal(first.fit_x, other.fit_x)
    assert len(first.fit_y) == 50 and len(first.held_y) == 10
    assert set(first.fit_y.tolist()) <= set(range(5)) and first.fit_x.dtype == torch.float32
    assert torch.equal(first.x, torch.cat([first.fit_x, first.held_x]))


def test_sample_is_drawn_from_the_images_the_nets_train_on(fake_data, tiny_job):
    """With data.n_train_per_class = k, the fit images are among the first k of each class,
    exactly what run_job trains on; asking for more images than there are takes them all."""
    data = with_fingerprint(DataSpec(n_val=40, path=str(fake_data), n_train_per_class=6))
    job = dataclasses.replace(tiny_job["A2B"], data=data)
    train, *_ = target_data(job)
    got = sample(fake_data, per_class=6, n_fit=1000)
    assert len(got.fit_y) == len(train.y) == 30
    normalised = (train.x.float() - train.mean) / train.std
    rows = {tuple(x.flatten().tolist()) for x in normalised}
    assert all(tuple(x.flatten().tolist()) in rows for x in got.fit_x)


def test_too_few_images_is_one_clear_error(fake_data):
    with pytest.raises(EstimateError, match="too few"):
        sample(fake_data, per_class=1)


def test_reduce_pools_conv_maps_and_projects_long_vectors():
    conv = torch.randn(3, 12, 14, 14)
    pooled = reduce(conv, 512)
    assert pooled.shape == (3, 12 * 6 * 6)  # the largest grid with 12 g^2 <= 512
    assert torch.allclose(pooled[:, 0], conv[:, 0, :3, :3].mean((1, 2)), atol=1e-6)
    assert reduce(conv, 0).shape == (3, 12 * 14 * 14)  # 0 keeps everything
    flat = torch.randn(5, 4096)
    projected = reduce(flat, 512)
    assert projected.shape == (5, 512) and torch.equal(projected, reduce(flat, 512))
    assert not torch.equal(projected, reduce(flat, 512, seed=1))
    small = torch.randn(4, 64)
    assert torch.equal(reduce(small, 512), small)  # small layers are left as they are


def test_layer_features_are_each_layers_output(tmp_path):
    model = build_model(NetSpec(width=0.1), 5, seed=0).eval()
    x = torch.randn(7, 1, 28, 28)
    feats = layer_features(model, x, "cpu", max_dim=0)
    assert len(feats) == model.n_layers
    for n, f in enumerate(feats, 1):
        with torch.no_grad():
            assert torch.allclose(f, model(x, stop=n).flatten(1), atol=1e-6)


def test_load_net_reads_a_saved_net_and_names_a_broken_one(tmp_path, tiny_job):
    job = tiny_job["baseA"]
    folder = store.job_dir(tmp_path, job.id)
    folder.mkdir(parents=True)
    saved = build_model(job.net, 5, seed=3)
    store.save_weights(saved.state_dict(), folder / store.WEIGHTS)
    loaded = load_net(job, tmp_path, (1, 28, 28))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), saved.eval()(x))
    (folder / store.WEIGHTS).write_bytes(b"not a weights file")
    with pytest.raises(EstimateError, match="cannot be read"):
        load_net(job, tmp_path, (1, 28, 28))


class TwoPaths(nn.Module):
    """A user's class whose units do not compose its forward: a ReLU and a skip connection in
    forward, the head a two-part unit ("norm+fc")."""

    def __init__(self, n_classes: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, n_classes)

    def forward(self, x):
        y = torch.relu(self.stem(x))
        z = (y + self.body(y)).mean((2, 3))
        return self.fc(self.norm(z))


def test_a_class_based_model_gives_each_units_own_output():
    model = wrap(TwoPaths(), ("stem", "body", "norm+fc"), 3, 1, 28, seed=0).eval()
    assert not model.composes  # model(x, start, stop) refuses it: hooks do not need it
    x = torch.randn(5, 1, 28, 28)
    feats, shapes = layer_outputs(model, x, "cpu", max_dim=0)
    inner = model.model
    with torch.no_grad():
        stem = inner.stem(x)
        body = inner.body(torch.relu(stem))
        logits = model(x)
    assert torch.allclose(feats[0], stem.flatten(1), atol=1e-6)  # before forward's ReLU
    assert torch.allclose(feats[1], body.flatten(1), atol=1e-6)
    assert torch.allclose(feats[2], logits, atol=1e-6)  # "norm+fc": the last part's output
    assert shapes == [(4, 28, 28), (4, 28, 28), (3,)]


def test_a_sequential_of_units_keeps_the_ops_between_them():
    """The parameter-free children after a unit are what the next unit sees: part of it."""
    examples = Path(__file__).parents[2] / "examples"
    units = ["stem", "block1", "block2", "block3", "head"]
    net = resolve_model(NetSpec(name="my_nets:build"), examples, "my_nets.py", units, {"width": 4})
    model = build_model(net, 3, seed=0).eval()
    assert model.composes
    x = torch.randn(4, 1, 28, 28)
    feats = layer_features(model, x, "cpu", max_dim=0)
    for n, f in enumerate(feats, 1):
        with torch.no_grad():
            assert torch.allclose(f, model(x, stop=n).flatten(1), atol=1e-5)


def test_a_unit_that_runs_twice_or_returns_no_tensor_is_refused_in_one_line():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 3, padding=1)
            self.block = nn.Conv2d(2, 2, 3, padding=1)
            self.head = nn.Linear(2, 3)

        def forward(self, x):
            return self.head(self.block(self.block(self.stem(x))).mean((2, 3)))

    model = wrap(Twice(), ("stem", "block", "head"), 3, 1, 28, seed=0)
    with pytest.raises(EstimateError, match="unit 'block' ran 2 times in one forward pass"):
        layer_features(model, torch.randn(2, 1, 28, 28), "cpu", 0)

    class Pair(nn.Module):  # a unit returning (features, extra): its first tensor is taken
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y, y.mean()

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = Pair()
            self.head = nn.Linear(2, 3)

        def forward(self, x):
            return self.head(self.stem(x)[0].mean((2, 3)))

    model = wrap(Outer(), ("stem", "head"), 3, 1, 28, seed=0).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = model.model.stem.conv(x).flatten(1)
    assert torch.allclose(layer_features(model, x, "cpu", 0)[0], expected, atol=1e-6)


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_hugging_face_models_give_each_units_output(tmp_path, family):
    HF = pytest.importorskip("transformers")
    HF.AutoModelForImageClassification.from_config(tiny_hf_config(family, 3)).save_pretrained(
        tmp_path
    )
    model = build_model(NetSpec(name="hf:x", path=str(tmp_path)), 3, seed=0).eval()
    x = torch.randn(3, 1, 28, 28)
    feats, shapes = layer_outputs(model, x, "cpu", max_dim=0)
    inner = model.model
    with torch.no_grad():
        if family == "vit":
            h = inner.vit.embeddings(x)
            expected = [h]
            for block in inner.vit.layers:
                h = block(h)
                h = h[0] if isinstance(h, tuple) else h
                expected.append(h)
        else:
            h = inner.resnet.embedder(x)
            expected = [h]
            for stage in inner.resnet.encoder.stages:
                h = stage(h)
                expected.append(h)
        expected.append(model(x))
    assert len(feats) == model.n_layers == len(expected)
    for f, e in zip(feats, expected):
        assert torch.allclose(f, e.flatten(1), atol=1e-5)
    assert shapes[-1] == (3,)
