"""The Caffe reference net of the paper (AlexNet-like, 8 weight layers): ConvNet8, scaled for
28x28 grey images, and CaffeNet, the exact bvlc_reference_caffenet for 227x227 crops, with the
channel LRN they share.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from featuretransfer.nets.layered import Dropout, LayeredNet

# Per-layer init of the Caffe reference net: (weight std, bias value).
REFERENCE_INIT = {
    "conv1": (0.01, 0.0),
    "conv2": (0.01, 1.0),
    "conv3": (0.01, 0.0),
    "conv4": (0.01, 1.0),
    "conv5": (0.01, 1.0),
    "fc6": (0.005, 1.0),
    "fc7": (0.005, 1.0),
    "fc8": (0.01, 0.0),
}


class _LRNFunction(torch.autograd.Function):
    """y = x * d^-beta, d = k + conv(x^2, band), with a hand-written backward:
    dx = g * d^-beta - 2 beta * x * conv(g * y / d, band^T): 4 element-wise ops and one 1x1
    convolution, where autograd's chain through the forward's ops takes about 12.

    Computed in fp32 whatever the input (under bf16 autocast too): d = 1 + 2e-5 * sum x^2 sits
    next to 1, where bf16's 8 bits of mantissa would round the sum away; the output is cast back
    to the input's dtype. On fp32 inputs the casts are no-ops: the same ops as ever."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, band: torch.Tensor, k: float, beta: float) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            x32 = x.float()
            d = F.conv2d(x32 * x32, band).add_(k)
            if beta == 0.75:  # Caffe's value: d^-3/4 = r * sqrt(r), r = rsqrt(d); pow is slower
                r = d.rsqrt()
                s = r.sqrt().mul_(r)
            else:
                s = d.pow(-beta)
            y = x32 * s
        ctx.save_for_backward(x32, band, d, s, y)
        ctx.beta = beta
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, band, d, s, y = ctx.saved_tensors
        g32 = g.float()
        u = F.conv2d((g32 * y).div_(d), band.transpose(0, 1))
        return torch.addcmul(g32 * s, x, u, value=-2 * ctx.beta).to(g.dtype), None, None, None


class ChannelLRN(nn.Module):
    """Local response normalisation across channels, as Caffe's and nn.LocalResponseNorm:
    x / (k + alpha / size * sum of x^2 over `size` neighbouring channels) ^ beta.

    The channel-window sum is one 1x1 convolution with a fixed band matrix: about twice as fast
    on CPU, forward and backward, as nn.LocalResponseNorm's avg_pool3d (measured, 2-core x86);
    the backward is written out (`_LRNFunction`): 1.04-1.06x on a full-network step.
    """

    def __init__(
        self, channels: int, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
    ):
        super().__init__()
        self.beta, self.k = beta, k
        offset = torch.arange(channels)[None, :] - torch.arange(channels)[:, None]
        band = (offset >= -(size // 2)) & (offset <= (size - 1) // 2)
        # not persistent: a constant of the architecture, kept out of the state_dict
        self.register_buffer(
            "band", (band.float() * alpha / size)[:, :, None, None], persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LRNFunction.apply(x, self.band, self.k, self.beta)


def reference_after(c1: int, c2: int, dropout: float) -> nn.ModuleDict:
    """The parameter-free ops after each layer of the Caffe reference net: ReLU everywhere but
    fc8; max-pool 3x3/2 after conv1, conv2, conv5; LRN (5, 1e-4, 0.75) after the first two pools;
    dropout after fc6 and fc7. Pooling comes before ReLU here: the same numbers as Caffe's
    ReLU-then-pool (max commutes with a monotone function) with the ReLU on a 4x smaller tensor."""
    relu, pool = nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)
    return nn.ModuleDict(
        {
            "conv1": nn.Sequential(pool, relu, ChannelLRN(c1)),
            "conv2": nn.Sequential(pool, relu, ChannelLRN(c2)),
            "conv3": relu,
            "conv4": relu,
            "conv5": nn.Sequential(pool, relu, nn.Flatten()),
            "fc6": nn.Sequential(relu, Dropout(dropout)),
            "fc7": nn.Sequential(relu, Dropout(dropout)),
            "fc8": nn.Identity(),
        }
    )


class ConvNet8(LayeredNet):
    """conv1..conv5 (ReLU; max-pool after 1, 2, 5; LRN after the first two pools), fc6, fc7 (ReLU,
    dropout), fc8. Pooling rounds up as Caffe's does (3x3, stride 2). Width 1.0 gives conv
    24-64-96-96-64 and fc 512: the original 96-256-384-384-256 / 4096 divided by 4 and 8."""

    layer_names = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    memory_format = torch.channels_last
    FULL_WIDTH = (24, 64, 96, 96, 64, 512)
    CHANNEL_STEP = 1  # every width is a multiple of this

    def __init__(
        self,
        n_classes: int,
        width: float = 0.5,
        dropout: float = 0.5,
        init: str = "kaiming",
        in_channels: int = 1,
        image_size: int = 28,
    ):
        super().__init__()
        if init not in ("kaiming", "reference"):
            raise ValueError(f"model.init = {init!r}; use 'kaiming' or 'reference'")
        self.init = init
        step = self.CHANNEL_STEP
        *c, f = (max(step, step * round(w * width / step)) for w in self.FULL_WIDTH)
        self.conv1, self.conv2, self.conv3, self.conv4, self.conv5 = self.conv_layers(
            in_channels, c
        )
        self.after = reference_after(c[0], c[1], dropout)
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, image_size, image_size)
            n_flat = self.forward(probe, stop=5).shape[1]
        self.fc6 = nn.Linear(n_flat, f)
        self.fc7 = nn.Linear(f, f)
        self.fc8 = nn.Linear(f, n_classes)

    def conv_layers(self, c_in: int, c: list[int]) -> tuple[nn.Conv2d, ...]:
        """conv1..conv5 for 28x28 images: 5x5, 5x5, then three 3x3, all keeping the size."""
        return (
            nn.Conv2d(c_in, c[0], 5, padding=2),
            nn.Conv2d(c[0], c[1], 5, padding=2),
            nn.Conv2d(c[1], c[2], 3, padding=1),
            nn.Conv2d(c[2], c[3], 3, padding=1),
            nn.Conv2d(c[3], c[4], 3, padding=1),
        )

    def init_layer(self, name: str, generator: torch.Generator) -> None:
        layer = getattr(self, name)
        with torch.no_grad():
            if self.init == "reference":
                std, bias = REFERENCE_INIT[name]
                nn.init.normal_(layer.weight, 0.0, std, generator=generator)
                nn.init.constant_(layer.bias, bias)
            elif name == "fc8":  # a small classifier starts the softmax near uniform
                nn.init.normal_(layer.weight, 0.0, 0.01, generator=generator)
                nn.init.zeros_(layer.bias)
            else:
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=generator)
                nn.init.zeros_(layer.bias)


class CaffeNet(ConvNet8):
    """The exact Caffe reference net (bvlc_reference_caffenet) of the original study, for 227x227
    crops: conv1 96 11x11 stride 4, pool, LRN; conv2 256 5x5 in 2 groups, pool, LRN; conv3 384;
    conv4 384 and conv5 256 in 2 groups, pool; fc6, fc7 4096 with dropout; fc8. 61.0M parameters
    with 1000 classes. Width scales every layer (kept even, for the 2 groups)."""

    FULL_WIDTH = (96, 256, 384, 384, 256, 4096)
    CHANNEL_STEP = 2

    def __init__(
        self,
        n_classes: int,
        width: float = 1.0,
        dropout: float = 0.5,
        init: str = "reference",
        in_channels: int = 3,
        image_size: int = 227,
    ):
        super().__init__(n_classes, width, dropout, init, in_channels, image_size)

    def conv_layers(self, c_in: int, c: list[int]) -> tuple[nn.Conv2d, ...]:
        return (
            nn.Conv2d(c_in, c[0], 11, stride=4),
            nn.Conv2d(c[0], c[1], 5, padding=2, groups=2),
            nn.Conv2d(c[1], c[2], 3, padding=1),
            nn.Conv2d(c[2], c[3], 3, padding=1, groups=2),
            nn.Conv2d(c[3], c[4], 3, padding=1, groups=2),
        )
