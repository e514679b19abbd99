"""What every data-set reader returns: a Dataset of uint8 tensors with its seeded validation
hold-out, and DataError, the one-line error for data that cannot be found or read."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DataError(ValueError):
    """Data that cannot be found or read; the message says which file and what to do."""


@dataclass(frozen=True)
class Dataset:
    """Images as uint8 [N, C, H, W] and int64 labels, with the held-out validation part."""

    classes: tuple[str, ...]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    pixel_mean: float  # of all training pixels, in uint8 units: one input scaling per data set
    pixel_std: float


def hold_out(n: int, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) of a seeded random hold-out of n_val out of n images."""
    if not 0 <= n_val < n:
        raise DataError(f"data.n_val = {n_val} must be in 0..{n - 1}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[n_val:].sort().values, order[:n_val].sort().values
