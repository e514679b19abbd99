"""Random-crop and mirror augmentation of uint8 (or any) image batches, and the centre crop.

Pure functions on [N, C, H, W] tensors, vectorised over the batch and seeded by a generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment(
    x: torch.Tensor, crop: int, pad: int, generator: torch.Generator, mirror: bool = True
) -> torch.Tensor:
    """Random `crop` x `crop` windows and horizontal mirrors (p = 0.5) of a batch [N, C, H, W].

    pad > 0 zero-pads first (CIFAR style: pad 4, crop 32); pad = 0 crops a larger image
    (ImageNet style: 256 -> 227). Draws, in this order, N row offsets, N column offsets, N mirror
    flips from `generator`, so the same generator state gives the same batch. Any dtype; the
    batch stays on its device (draws are made on the generator's device, then moved).
    """
    if pad:
        x = F.pad(x, (pad, pad, pad, pad))  # zeros: the CIFAR convention
    n, c, h, w = x.shape
    if not 0 < crop <= min(h, w):
        raise ValueError(f"crop {crop} does not fit images of {h} x {w} (after padding by {pad})")

    def draw(high: int) -> torch.Tensor:
        drawn = torch.randint(high, (n,), generator=generator, device=generator.device)
        return drawn.to(x.device)

    top, left, flips = draw(h - crop + 1), draw(w - crop + 1), draw(2).bool()
    flips &= mirror  # drawn either way, so the stream does not depend on `mirror`
    steps = torch.arange(crop, device=x.device)
    rows = top[:, None] + steps  # [N, crop] source row of each output row
    cols = left[:, None] + torch.where(flips[:, None], crop - 1 - steps, steps)
    x = x.gather(2, rows[:, None, :, None].expand(n, c, crop, w))
    return x.gather(3, cols[:, None, None, :].expand(n, c, crop, crop))


def center_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    """The central `crop` x `crop` window of a batch [N, C, H, W], for evaluation."""
    h, w = x.shape[-2:]
    if not 0 < crop <= min(h, w):
        raise ValueError(f"crop {crop} does not fit images of {h} x {w}")
    top, left = (h - crop) // 2, (w - crop) // 2
    return x[..., top : top + crop, left : left + crop]
