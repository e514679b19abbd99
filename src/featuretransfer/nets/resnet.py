"""ResNet-18 for 32x32 images as a layered net: stem, four stages and the classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from featuretransfer.nets.layered import LayeredNet


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions with batch norm and an identity (or 1x1) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet18(LayeredNet):
    """ResNet-18 for 32x32 images (3x3 stem, no stem pooling). Its transferable units are the
    stem, the four stages and the classifier: L = 6, cuts n = 1..5."""

    layer_names = ("stem", "layer1", "layer2", "layer3", "layer4", "fc")
    memory_format = torch.channels_last
    has_batch_norm = True

    def __init__(
        self,
        n_classes: int,
        width: float = 1.0,
        dropout: float = 0.0,
        init: str = "kaiming",
        in_channels: int = 3,
        image_size: int = 32,
    ):
        super().__init__()
        if init != "kaiming":
            raise ValueError(f"model.init = {init!r}: resnet18 has only 'kaiming'")
        c = [max(1, round(w * width)) for w in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU()
        )
        for i, (c_in, c_out, stride) in enumerate(zip([c[0]] + c[:3], c, (1, 2, 2, 2)), 1):
            setattr(
                self,
                f"layer{i}",
                nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)),
            )
        self.fc = nn.Linear(c[3], n_classes)
        identity = nn.Identity()
        self.after = nn.ModuleDict({name: identity for name in self.layer_names})
        self.after["layer4"] = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout)
        )

    def init_layer(self, name: str, generator: torch.Generator) -> None:
        with torch.no_grad():
            for module in getattr(self, name).modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(
                        module.weight, mode="fan_out", nonlinearity="relu", generator=generator
                    )
                elif isinstance(module, nn.BatchNorm2d):
                    module.reset_parameters()  # weight 1, bias 0, fresh running statistics
                elif isinstance(module, nn.Linear):
                    nn.init.normal_(module.weight, 0.0, 0.01, generator=generator)
                    nn.init.zeros_(module.bias)
