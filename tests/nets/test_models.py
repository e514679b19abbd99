import pytest
import torch

from featuretransfer.nets.caffe import ChannelLRN, ConvNet8
from featuretransfer.nets.layered import Dropout, dropout_mask
from featuretransfer.nets.registry import build_model
from featuretransfer.specs import NetSpec

NAMES = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")


def test_layers_are_named_and_indexed_like_the_caffe_net():
    model = build_model(NetSpec(width=0.5), n_classes=5, seed=0)
    assert model.layer_names == NAMES and model.n_layers == 8
    keys = [k for name in NAMES for k in (f"{name}.weight", f"{name}.bias")]
    assert list(model.state_dict()) == keys
    assert model.layer(1) is model.conv1 and model.layer(8) is model.fc8
    widths = [model.layer(i).weight.shape[0] for i in range(1, 9)]
    assert widths == [12, 32, 48, 48, 32, 256, 256, 5]  # the half-width net of the issue


def test_forward_in_pieces_equals_whole():
    model = build_model(NetSpec(width=0.25), n_classes=5, seed=0).eval()
    x = torch.randn(3, 1, 28, 28)
    for n in range(1, 8):
        assert torch.allclose(model(model(x, stop=n), start=n), model(x), atol=1e-6)


def test_init_is_seeded_and_reference_init_follows_caffe():
    a = build_model(NetSpec(width=0.25), 5, seed=1).state_dict()
    b = build_model(NetSpec(width=0.25), 5, seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ref = build_model(NetSpec(width=1.0, init="reference"), 5, seed=0)
    assert abs(ref.conv3.weight.std().item() - 0.01) < 0.001
    assert abs(ref.fc6.weight.std().item() - 0.005) < 0.0005
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    for name in NAMES:
        bias = getattr(ref, name).bias
        assert torch.all(bias == (1.0 if name in ones else 0.0)), name


def test_unknown_init_is_an_error():
    with pytest.raises(ValueError, match="model.init"):
        ConvNet8(5, init="xavier")


@pytest.mark.parametrize("channels", [1, 6, 16])
def test_channel_lrn_equals_torchs(channels):
    x = torch.randn(4, channels, 9, 9) * 30
    reference = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)(x)
    assert torch.allclose(ChannelLRN(channels)(x), reference, rtol=1e-5, atol=1e-6)
    assert list(ChannelLRN(channels).state_dict()) == []


@pytest.mark.parametrize("channels, beta", [(1, 0.75), (6, 0.75), (16, 0.75), (6, 0.5)])
def test_channel_lrn_gradient_equals_torchs(channels, beta):
    # ChannelLRN's backward is written out by hand; autograd through torch's LRN is the truth
    x = (torch.randn(4, channels, 9, 9) * 30).requires_grad_()
    g = torch.randn(4, channels, 9, 9)
    reference = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=beta, k=1.0)
    (expected,) = torch.autograd.grad(reference(x), x, g)
    (got,) = torch.autograd.grad(ChannelLRN(channels, beta=beta)(x), x, g)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_caffenet_is_the_original_shape_and_size():
    model = build_model(
        NetSpec(name="caffenet", width=1.0, init="reference"),
        1000,
        seed=0,
        in_channels=3,
        image_size=227,
    )
    assert model.layer_names == NAMES
    assert sum(p.numel() for p in model.parameters()) == 60_965_224  # the 61M of the original
    assert [model.layer(i).weight.shape[0] for i in range(1, 9)] == [
        96,
        256,
        384,
        384,
        256,
        4096,
        4096,
        1000,
    ]
    assert (model.conv1.kernel_size, model.conv1.stride) == ((11, 11), (4, 4))
    assert [model.layer(i).groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert model.fc6.in_features == 256 * 6 * 6
    assert model(torch.zeros(2, 3, 227, 227)).shape == (2, 1000)


def test_resnet18_units_and_pieces():
    model = build_model(
        NetSpec(name="resnet18", width=0.25, dropout=0.0), 10, seed=0, in_channels=3, image_size=32
    ).eval()
    assert model.layer_names == ("stem", "layer1", "layer2", "layer3", "layer4", "fc")
    assert model.n_deterministic == 6
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10)
    for n in range(1, 6):
        assert torch.allclose(model(model(x, stop=n), start=n), model(x), atol=1e-5)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_dropout_keeps_1_minus_p_scaled_and_is_seeded(p):
    mask = dropout_mask(torch.Size([200, 256]), p, torch.float32, torch.device("cpu"))
    scale = torch.tensor(1.0).div_(1 - p)  # in float32, as the mask is scaled
    assert torch.all((mask == 0) | (mask == scale))
    assert abs((mask > 0).float().mean().item() - (1 - p)) < 0.01
    x = torch.randn(64, 256)
    torch.manual_seed(0)
    a = Dropout(p).train()(x)
    torch.manual_seed(0)
    assert torch.equal(Dropout(p).train()(x), a)  # the global stream, as nn.Dropout
    assert torch.equal(Dropout(p).eval()(x), x)
