"""Frozen features after each layer of a trained net, on a fixed, seeded sample of the target
half's images.

`target_sample` draws the images once per (split, target half): n_fit of the training images
the treatments train on (labels of the target, 0..k-1) and n_held of the validation hold-out,
each a seeded draw without replacement, so every net of a split is scored on the same images
and the same seed gives the same sample. `load_net` rebuilds a finished job's net from its
spec and its saved state_dict. `layer_features` runs a net once over the images, in eval mode
(dropout off: the input that layer n + 1 of a frozen transfer net sees), and keeps the output
of every layer, each reduced to at most `max_dim` numbers per image (`reduce`).

Reduction: a convolutional map [C, H, W] is average-pooled to the largest g x g grid with
C g^2 <= max_dim (g <= H, W), so conv1 of the default net (12 x 14 x 14 = 2352) becomes
12 x 6 x 6 = 432; a vector longer than max_dim (or C > max_dim channels at g = 1) is projected
by a fixed Gaussian matrix (seeded by its size) to max_dim. max_dim = 0 keeps everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from featuretransfer.data.augment import center_crop
from featuretransfer.data.diskimages import take
from featuretransfer.data.registry import load_dataset
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.registry import build_model
from featuretransfer.specs import DataSpec, JobSpec, TrainSpec, seed_hash
from featuretransfer.study import store
from featuretransfer.study.splits import relabel

BATCH = 1000  # images per forward pass; no autograd, so memory is activations of one batch


class EstimateError(ValueError):
    """Estimates that cannot be made: a net that cannot be read, too few images."""


@dataclass(frozen=True)
class TargetSample:
    """Images of the target half as the nets see them (float, normalised, centre-cropped where
    the study crops) and their labels 0..k-1: `fit` from the training images, `held` from the
    validation hold-out."""

    fit_x: torch.Tensor
    fit_y: torch.Tensor
    held_x: torch.Tensor
    held_y: torch.Tensor

    @property
    def x(self) -> torch.Tensor:
        """fit and held images in one tensor, fit first: one forward pass for both."""
        return torch.cat([self.fit_x, self.held_x])


def _draw(n_available: int, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded draw of min(n, n_available) without replacement."""
    order = torch.randperm(n_available, generator=torch.Generator().manual_seed(seed))
    return order[: min(n, n_available)].sort().values


def target_sample(
    data: DataSpec,
    train: TrainSpec,
    classes: tuple[int, ...],
    n_fit: int,
    n_held: int,
    seed: int,
) -> TargetSample:
    """The seeded sample of the half `classes`: training images (the first
    data.n_train_per_class of each class where the study keeps only those, as its nets do)
    and validation images. Seeds: seed_hash("estimate", classes, part, seed)."""
    dataset = load_dataset(data)
    std = dataset.pixel_std if data.normalize == "mean-std" else 1.0

    def part(x, y, n: int, name: str, per_class: int = 0):
        mask, labels = relabel(y, classes)
        index = torch.nonzero(mask).squeeze(1)
        if per_class:  # the first k of each class, as the nets' training set
            rank = torch.zeros_like(labels)
            for c in range(len(classes)):
                rank[labels == c] = torch.arange(int((labels == c).sum()))
            index, labels = index[rank < per_class], labels[rank < per_class]
        if len(index) < 2 * len(classes):
            raise EstimateError(
                f"the {name} images of classes {list(classes)} number {len(index)}: too few "
                f"to estimate on (need {2 * len(classes)}); give more data"
            )
        pick = _draw(len(index), n, seed_hash("estimate", list(classes), name, seed))
        images = take(x, index[pick])
        images = images if isinstance(images, torch.Tensor) else images[torch.arange(len(pick))]
        if train.crop:
            images = center_crop(images, train.crop)
        return (images.float() - dataset.pixel_mean) / std, labels[pick]

    fit_x, fit_y = part(dataset.train_x, dataset.train_y, n_fit, "training", data.n_train_per_class)
    held_x, held_y = part(dataset.val_x, dataset.val_y, n_held, "validation")
    return TargetSample(fit_x, fit_y, held_x, held_y)


def load_net(job: JobSpec, out: Path, image_shape: tuple[int, ...]) -> LayeredNet:
    """The trained net of a DONE job, in eval mode, on the CPU."""
    n_classes = job.net.n_outputs or len(job.split.classes(job.target))
    image_size = job.train.crop or image_shape[1]
    model = build_model(job.net, n_classes, 0, in_channels=image_shape[0], image_size=image_size)
    path = store.weights_file(store.job_dir(out, job.id))
    try:
        model.load_state_dict(store.load_weights(path))
    except (store.DamagedError, RuntimeError) as e:  # RuntimeError: other names or shapes
        raise EstimateError(
            f"{job.display_name}: its weights {path} cannot be read ({e}); "
            f"delete {path.parent} and run the study again"
        ) from None
    return model.eval()


def reduce(features: torch.Tensor, max_dim: int, seed: int = 0) -> torch.Tensor:
    """Features [m, ...] as [m, <= max_dim] (module docstring); max_dim = 0: flattened."""
    if features.dim() == 4 and max_dim:
        c, h, w = features.shape[1:]
        if c * h * w > max_dim:
            grid = max(1, min(h, w, math.isqrt(max_dim // c) if c <= max_dim else 1))
            features = F.adaptive_avg_pool2d(features, grid)
    features = features.flatten(1)
    d = features.shape[1]
    if max_dim and d > max_dim:
        generator = torch.Generator().manual_seed(seed_hash("projection", d, max_dim, seed))
        projection = torch.randn(d, max_dim, generator=generator) / math.sqrt(max_dim)
        features = features @ projection.to(features.device, features.dtype)
    return features


def layer_features(
    model: LayeredNet, x: torch.Tensor, device: str, max_dim: int, seed: int = 0
) -> list[torch.Tensor]:
    """The output of layers 1..L on images x, each reduced to <= max_dim: L tensors [m, d_i]
    (float32, on the CPU)."""
    model = model.to(device, memory_format=model.memory_format)
    parts: list[list[torch.Tensor]] = [[] for _ in range(model.n_layers)]
    with torch.inference_mode():
        for start in range(0, len(x), BATCH):
            h = x[start : start + BATCH].to(device)
            if h.dim() == 4:
                h = h.contiguous(memory_format=model.memory_format)
            for i in range(model.n_layers):
                h = model(h, start=i, stop=i + 1)
                parts[i].append(reduce(h, max_dim, seed).float().cpu())
    return [torch.cat(p) for p in parts]
