"""The built-in models by name (the study file's `model.name`) and `build_model`, which also
builds a user's model ("module:factory", nets/units.py) and a Hugging Face one ("hf:FOLDER",
nets/hf.py)."""

from __future__ import annotations

import torch

from featuretransfer.nets.caffe import CaffeNet, ConvNet8
from featuretransfer.nets.factory import build_factory_model
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.resnet import ResNet18
from featuretransfer.nets.units import HF_PREFIX, is_user_model
from featuretransfer.nets.vit import ViT
from featuretransfer.specs import JobSpec, NetSpec

MODELS = {"convnet8": ConvNet8, "caffenet": CaffeNet, "resnet18": ResNet18, "vit": ViT}


def build_model(
    net: NetSpec, n_classes: int, seed: int, in_channels: int = 1, image_size: int = 28
) -> LayeredNet:
    """A fresh net of spec `net`, every layer initialised from `seed`."""
    if net.name.startswith(HF_PREFIX):
        from featuretransfer.nets.hf import build_hf_model  # transformers only when used

        return build_hf_model(net, n_classes, seed, in_channels, image_size)
    if is_user_model(net.name):
        return build_factory_model(net, n_classes, seed, in_channels, image_size)
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


def job_model(job: JobSpec, image_shape: tuple[int, ...], seed: int) -> LayeredNet:
    """A job's net before any layer is copied: its model with one output per class of its
    target half (or net.n_outputs: the original's 1000-way fc8) for images of `image_shape`
    (channels, side), seen as train.crop x train.crop windows where the study crops."""
    n_outputs = job.net.n_outputs or len(job.split.classes(job.target))
    size = job.train.crop or image_shape[1]
    return build_model(job.net, n_outputs, seed, in_channels=image_shape[0], image_size=size)
