"""What every data-set reader returns: a Dataset of uint8 tensors with its seeded validation
hold-out (build_dataset), DataError, the one-line error for data that cannot be found or read,
and the cache folder where readers keep downloaded and decoded data and fingerprints."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from featuretransfer.data.diskimages import IndexedImages, take
from featuretransfer.specs import DataSpec


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


def cache_root() -> Path:
    """XDG_CACHE_HOME/featuretransfer (default ~/.cache/featuretransfer): downloaded data, images
    decoded to disk, and the data's fingerprints."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "featuretransfer"


def pixel_stats(x: torch.Tensor) -> tuple[float, float]:
    """Mean and (unbiased) std of all values of a uint8 tensor, exact, in bounded memory.

    A histogram of the 256 values instead of `x.double()`: CIFAR's training set as float64 is
    1.2 GB.
    """
    counts = torch.zeros(256, dtype=torch.int64)
    for chunk in x.reshape(len(x), -1).split(1024):  # 1024 images at a time
        counts += torch.bincount(chunk.reshape(-1), minlength=256)
    values, counts = torch.arange(256, dtype=torch.float64), counts.double()
    n = counts.sum()
    mean = (values * counts).sum() / n
    var = (counts * (values - mean) ** 2).sum() / (n - 1)
    return mean.item(), var.sqrt().item()


def build_dataset(classes, train_x, train_y, test_x, test_y, spec: DataSpec) -> Dataset:
    """A Dataset of any reader's images, in memory or on disk (`IndexedImages`: pixel statistics
    from 10,000 of them), with the seeded validation hold-out of data.n_val training images."""
    train_idx, val_idx = hold_out(len(train_x), spec.n_val, spec.val_seed)
    kept = take(train_x, train_idx)
    mean, std = pixel_stats(kept.sample(10_000) if isinstance(kept, IndexedImages) else kept)
    return Dataset(
        classes=tuple(classes),
        train_x=kept,
        train_y=train_y[train_idx],
        val_x=take(train_x, val_idx),
        val_y=train_y[val_idx],
        test_x=test_x,
        test_y=test_y,
        pixel_mean=mean,
        pixel_std=std,
    )
