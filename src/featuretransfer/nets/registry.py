"""The built-in models by name (the study file's `model.name`) and `build_model`."""

from __future__ import annotations

import torch

from featuretransfer.nets.caffe import CaffeNet, ConvNet8
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.resnet import ResNet18
from featuretransfer.specs import NetSpec

MODELS = {"convnet8": ConvNet8, "caffenet": CaffeNet, "resnet18": ResNet18}


def build_model(
    net: NetSpec, n_classes: int, seed: int, in_channels: int = 1, image_size: int = 28
) -> LayeredNet:
    """A fresh net of spec `net`, every layer initialised from `seed`."""
    if net.name not in MODELS:
        raise ValueError(f"unknown model {net.name!r}; known: {', '.join(MODELS)}")
    model = MODELS[net.name](
        n_classes,
        width=net.width,
        dropout=net.dropout,
        init=net.init,
        in_channels=in_channels,
        image_size=image_size,
    )
    generator = torch.Generator().manual_seed(seed)
    for name in model.layer_names:
        model.init_layer(name, generator)
    return model


def has_batch_norm(net: NetSpec) -> bool:
    """Whether nets of this spec keep running statistics (batch norm), which fused training
    cannot update. A 1-class probe of the architecture, built once per spec and cached."""
    if net not in _BATCH_NORM:
        probe = MODELS[net.name](2, width=net.width, dropout=net.dropout, init=net.init)
        _BATCH_NORM[net] = any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in probe.modules()
        )
    return _BATCH_NORM[net]


_BATCH_NORM: dict[NetSpec, bool] = {}
