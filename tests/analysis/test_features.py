"""The image sample, the reduction of large layers, and layer features of a saved net."""

import dataclasses

import pytest
import torch

from featuretransfer.analysis.features import (
    EstimateError,
    layer_features,
    load_net,
    reduce,
    target_sample,
)
from featuretransfer.data.registry import with_fingerprint
from featuretransfer.nets.registry import build_model
from featuretransfer.run.job import target_data
from featuretransfer.specs import DataSpec, NetSpec, TrainSpec
from featuretransfer.study import store


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
