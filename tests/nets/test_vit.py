"""The built-in ViT passes the reference net's treatment properties (LayerNorm included)."""

import dataclasses

import pytest
import torch

from featuretransfer.nets.registry import build_model
from featuretransfer.run.images import Images
from featuretransfer.run.job import fuse_key
from featuretransfer.specs import NetSpec

NAMES = ("patch", "block1", "block2", "block3", "block4", "block5", "block6", "head")


def vit(seed: int, width: float = 0.25, size: int = 28, channels: int = 1, dropout=0.0):
    spec = NetSpec(name="vit", width=width, dropout=dropout)
    return build_model(spec, 3, seed=seed, in_channels=channels, image_size=size)


def random_images(n: int = 64, size: int = 28, channels: int = 1) -> Images:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return Images(x, torch.randint(0, 3, (n,), generator=g), 100.0, 60.0)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3)])
def test_units_shapes_and_pieces(size, channels):
    model = vit(0, size=size, channels=channels).eval()
    assert model.layer_names == NAMES and model.n_layers == 8
    assert model.patch.position.shape == (1, (size // 4) ** 2, 32)
    x = torch.randn(2, channels, size, size)
    assert model(x).shape == (2, 3)
    for n in range(1, 8):
        assert torch.allclose(model(model(x, stop=n), start=n), model(x), atol=1e-5)


def test_init_is_seeded_and_odd_sizes_are_refused():
    a, b, c = vit(3).state_dict(), vit(3).state_dict(), vit(4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["block1.qkv.weight"], c["block1.qkv.weight"])
    assert abs(a["block3.fc1.weight"].std().item() - 0.02) < 0.002
    with pytest.raises(ValueError, match="not a multiple of 4"):
        vit(0, size=30)


def test_dropout_before_the_head_limits_the_cache():
    assert vit(0).n_deterministic == 8
    assert vit(0, dropout=0.5).n_deterministic == 6  # block6's output is dropped out per step


def test_vit_nets_are_never_fused(tiny_job):
    # the stem's batch norm keeps running statistics, which a stacked pass cannot update
    job = dataclasses.replace(tiny_job["baseB"], net=NetSpec(name="vit", width=0.25))
    assert fuse_key(job) is None and fuse_key(tiny_job["baseB"]) is not None
