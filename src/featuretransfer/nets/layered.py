"""LayeredNet: a model as an ordered tuple of named weight layers, addressable by index 1..L.

Layer i is `layer_names[i - 1]`; a state_dict reads `conv1.weight`, ... `fc8.bias` like the
original's, and `forward(x, start, stop)` runs any contiguous range of layers, so the output of a
frozen prefix can be computed once and fed to the layers above. Also the seeded dropout that
every layered net and the fused trainer draw their masks with.
"""

from __future__ import annotations

import torch
from torch import nn


class LayeredNet(nn.Module):
    """Base of every transferable model: `layer_names` in forward order, `after[name]` the
    parameter-free ops that follow each layer (ReLU, pooling, normalisation, dropout).
    A subclass defines `init_layer(name, generator)`, its own initialisation of one layer."""

    layer_names: tuple[str, ...] = ()
    # Convolutions run faster in channels-last on CPU (1.25x for a ConvNet8 step, 2 threads).
    memory_format = torch.contiguous_format
    # Batch norm keeps running statistics, which a stacked (vmapped) pass cannot update: such
    # nets never train fused (run.job.fuse_key).
    has_batch_norm = False

    def __init__(self):
        super().__init__()
        self.n_frozen = 0  # set by treatments.freeze; the first n_frozen layers stay in eval mode

    @property
    def n_layers(self) -> int:
        return len(self.layer_names)

    def layer(self, i: int) -> nn.Module:
        """Layer i, counting from 1 as the paper does."""
        return getattr(self, self.layer_names[i - 1])

    def layer_keys(self, name: str) -> list[str]:
        """The state_dict keys of layer `name` (its parameters and buffers)."""
        return [k for k in self.state_dict() if k.startswith(name + ".")]

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Run layers start+1..stop (all by default) on x, the output of layer `start`."""
        for name in self.layer_names[start:stop]:
            x = self.after[name](getattr(self, name)(x))
        return x

    @property
    def n_deterministic(self) -> int:
        """How many leading layers compute the same output in training and eval mode (no
        dropout in them or in the ops after them): their output can be cached when frozen."""
        for i, name in enumerate(self.layer_names):
            modules = [*getattr(self, name).modules(), *self.after[name].modules()]
            if any(isinstance(m, nn.Dropout) and m.p > 0 for m in modules):
                return i
        return self.n_layers

    def train(self, mode: bool = True):
        # Frozen layers keep any normalisation statistics: they never enter training mode.
        super().train(mode)
        for i in range(1, self.n_frozen + 1):
            self.layer(i).eval()
        return self


def dropout_mask(
    shape: torch.Size,
    p: float,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """What dropout multiplies by: keep with probability 1 - p, scaled by 1 / (1 - p).

    On a CPU the keep test is a uniform double < 1 - p: the very draws torch's bernoulli_
    makes there (so the same masks as F.dropout, bit for bit, on this x86 CPU), 2.5x faster
    (160 against 400 us for 128 x 256 on 2 cores), 1.05x on a step of fc6..fc8."""
    if torch.device(device).type != "cpu":
        noise = torch.empty(shape, dtype=dtype, device=device)
        return noise.bernoulli_(1 - p, generator=generator).div_(1 - p)
    keep = torch.rand(shape, dtype=torch.float64, generator=generator) < 1 - p
    return keep.to(dtype).div_(1 - p)


class Dropout(nn.Dropout):
    """nn.Dropout with its mask from `dropout_mask` on a CPU (F.dropout elsewhere)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not 0 < self.p < 1 or x.device.type != "cpu":
            return super().forward(x)
        return x * dropout_mask(x.shape, self.p, x.dtype, x.device)
