"""A timm model as a study's model, through a factory; its pretrained weights as the source.

timm is imported inside the functions only, so this file imports (and a study naming it plans)
without timm; building the model then says `pip install timm`. The study file:

    [model]
    name = "my_timm:build"   # module:factory; the module is this file (model.file)
    file = "my_timm.py"      # beside the study file
    units = ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]   # timm's resnet18
    args = { arch = "resnet18" }

    [source]
    checkpoint = "../runs/resnet18-imagenet.safetensors"   # written by save_source (below)
    trained_on = "ImageNet-1k (timm resnet18.a1_in1k)"

Every net of a study starts from random weights drawn under its job's seed (each unit is
re-initialised by its own reset_parameters), so a factory's `pretrained=True` would be undone:
pretrained weights enter as the study's [source], a state_dict written once, with internet,
by `save_source`:

    python examples/my_timm.py resnet18 runs/resnet18-imagenet.safetensors --in-channels 1

(in_chans=1: timm sums the RGB filters of conv1 for grey images). The source's head (1,000
ImageNet classes) lies above every cut and is dropped. Inputs are normalised by the data's own
statistics (data.normalize), not by timm's pretrained mean and std (model.mean / model.std are
for hf: models, which apply them themselves).
"""

import argparse

from torch import nn

from featuretransfer.nets.units import ModelError


def _timm():
    try:
        import timm
    except ImportError:
        raise ModelError("my_timm: timm is not installed: pip install timm") from None
    return timm


def build(n_classes: int, in_channels: int, image_size: int, arch: str = "resnet18") -> nn.Module:
    """timm's `arch` for the study's classes and channels (any image size: global pooling)."""
    return _timm().create_model(arch, pretrained=False, num_classes=n_classes, in_chans=in_channels)


def save_source(arch: str, path: str, in_channels: int = 3) -> None:
    """timm's pretrained weights of `arch` as a safetensors state_dict, for [source]."""
    from safetensors.torch import save_file

    model = _timm().create_model(arch, pretrained=True, in_chans=in_channels)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=save_source.__doc__)
    parser.add_argument("arch")
    parser.add_argument("path")
    parser.add_argument("--in-channels", type=int, default=3)
    args = parser.parse_args()
    save_source(args.arch, args.path, args.in_channels)
