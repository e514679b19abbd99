"""A user's own model for featuretransfer: a small CNN with batch norm, as a study names it.

    [model]
    name = "my_nets:build"   # module:factory; the module is this file (model.file)
    file = "my_nets.py"      # beside the study file
    units = ["stem", "block1", "block2", "block3", "head"]
    args = { width = 16 }    # the factory's own keyword arguments

The factory takes (n_classes, in_channels, image_size) and returns an nn.Module. Because the
model is an nn.Sequential whose children are its units (and parameter-free ops), the units
compose the forward pass, so frozen units are computed once over the data, as for the built-in
nets. Any other nn.Module works too: then its own forward runs whole at every step.
"""

from collections import OrderedDict

from torch import nn


def conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out))


def build(n_classes: int, in_channels: int, image_size: int, width: int = 16) -> nn.Module:
    """stem: 3x3 conv-BN at stride 2 (28 -> 14 px); three blocks of conv-BN-ReLU at 2x, 4x,
    4x the width, each halving the image; head: global average pool and a linear classifier."""
    return nn.Sequential(
        OrderedDict(
            stem=conv_bn(in_channels, width, stride=2),  # a quarter of the work at full size
            relu0=nn.ReLU(),
            block1=conv_bn(width, 2 * width),
            pool1=nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)),
            block2=conv_bn(2 * width, 4 * width),
            pool2=nn.Sequential(nn.ReLU(), nn.MaxPool2d(2)),
            block3=conv_bn(4 * width, 4 * width),
            pool3=nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
            head=nn.Linear(4 * width, n_classes),
        )
    )
