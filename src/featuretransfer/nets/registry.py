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
