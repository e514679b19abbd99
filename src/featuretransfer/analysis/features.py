"""Frozen features at each unit's boundary of a net, on a fixed, seeded sample of the target
half's images.

`target_sample` draws the images once per (split, target half): n_fit of the training images
the treatments train on (labels of the target, 0..k-1) and n_held of the validation hold-out,
each a seeded draw without replacement, so every net of a split is scored on the same images
and the same seed gives the same sample. The nets: `load_net` rebuilds a finished job's net
from its spec and saved state_dict, `load_source_net` a pretrained source's layers 1..L-1 in
the study's model (as SnB copies them; the head, above every cut, stays new), `untrained_net`
a fresh net of the study's model from a seed (the CKA maps' baseline).

`layer_features` runs a net once over the images, in eval mode (dropout off: the input that
unit n + 1 of a frozen transfer net sees), with a forward hook on every unit, so any model
works, not only an nn.Sequential of its units (a user's class, a Hugging Face model). The
boundary of unit n is the output of its module (for a unit "a+b", of its last part b; for a
module that returns a tuple or a ModelOutput, its first tensor), followed by the
parameter-free ops the net itself declares after the unit: a built-in net's `after[name]`
(ReLU, pooling, LRN), the parameter-free children after a unit of an nn.Sequential. Ops that a
model's own forward applies between units (an F.relu in its forward) are invisible to a hook
and so not in the features. A unit that runs more or less than once per forward pass has no
single boundary and is refused in one line.

Each boundary is reduced to at most `max_dim` numbers per image (`reduce`): a convolutional
map [C, H, W] is average-pooled to the largest g x g grid with C g^2 <= max_dim (g <= H, W),
so conv1 of the default net (12 x 14 x 14 = 2352) becomes 12 x 6 x 6 = 432; any other output
longer than max_dim (tokens x channels, or C > max_dim channels at g = 1) is flattened and
projected by a fixed Gaussian matrix (seeded by its size) to max_dim. max_dim = 0 keeps all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from featuretransfer import store
from featuretransfer.data.augment import center_crop
from featuretransfer.data.diskimages import take
from featuretransfer.data.halves import half_of
from featuretransfer.data.registry import load_dataset
from featuretransfer.data.scaling import input_scaling
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.registry import job_model
from featuretransfer.nets.treatments import TreatmentError, check_source, copy_layers
from featuretransfer.nets.units import UnitNet
from featuretransfer.specs import DataSpec, JobSpec, TrainSpec, seed_hash
from featuretransfer.study.source import SourceError, load_source

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
    mean, std = input_scaling(data, dataset)  # as the nets' training inputs (data/scaling.py)

    def part(x, y, n: int, name: str, per_class: int = 0):
        index, labels = half_of(y, classes, per_class)  # as the nets' training set
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
        return (images.float() - mean) / std, labels[pick]

    fit_x, fit_y = part(dataset.train_x, dataset.train_y, n_fit, "training", data.n_train_per_class)
    held_x, held_y = part(dataset.val_x, dataset.val_y, n_held, "validation")
    return TargetSample(fit_x, fit_y, held_x, held_y)


def load_net(job: JobSpec, out: Path, image_shape: tuple[int, ...]) -> LayeredNet:
    """The trained net of a DONE job, in eval mode, on the CPU."""
    model = job_model(job, image_shape, 0)
    path = store.weights_file(store.job_dir(out, job.id))
    try:
        model.load_state_dict(store.load_weights(path))
    except (store.DamagedError, RuntimeError) as e:  # RuntimeError: other names or shapes
        raise EstimateError(
            f"{job.display_name}: its weights {path} cannot be read ({e}); "
            f"delete {path.parent} and run the study again"
        ) from None
    return model.eval()


def load_source_net(job: JobSpec, image_shape: tuple[int, ...]) -> LayeredNet:
    """The pretrained source of an SnB job as the study's model: layers 1..L-1 copied from the
    checkpoint (checked as training checks them), the head new, in eval mode."""
    model = job_model(job, image_shape, 0)
    try:
        state = load_source(job.pretrained)
        check_source(state, model)
        copy_layers(state, model, model.n_layers - 1)
    except (SourceError, TreatmentError) as e:
        raise EstimateError(f"the source checkpoint {job.pretrained.path}: {e}") from None
    return model.eval()


def untrained_net(job: JobSpec, image_shape: tuple[int, ...], seed: int) -> LayeredNet:
    """A fresh net of job's model, initialised from `seed`, in eval mode."""
    return job_model(job, image_shape, seed).eval()


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


def unit_boundaries(model: LayeredNet) -> list[tuple[nn.Module, nn.Module | None]]:
    """Per unit 1..L: the module whose output a hook takes, and the parameter-free ops the net
    declares after it (None: none)."""
    if not isinstance(model, UnitNet):  # a built-in net: forward runs after[name](layer(x))
        return [(getattr(model, name), model.after[name]) for name in model.layer_names]
    boundaries = []
    for i, name in enumerate(model.layer_names):
        last = model.parts[name][-1]
        after = None
        if model.composes:  # the parameter-free children that follow the unit in the Sequential
            children = list(model.segments[i])
            at = next(j for j, child in enumerate(children) if child is last)
            after = nn.Sequential(*children[at + 1 :]) if children[at + 1 :] else None
        boundaries.append((last, after))
    return boundaries


def first_tensor(output, unit: str) -> torch.Tensor:
    """A module's output as one tensor: itself, or the first tensor of a tuple, list or
    Hugging Face ModelOutput (the hidden states, by their convention)."""
    if isinstance(output, torch.Tensor):
        return output
    values = output.values() if isinstance(output, Mapping) else output
    if isinstance(values, (tuple, list)) or isinstance(output, Mapping):
        for value in values:
            if isinstance(value, torch.Tensor):
                return value
    raise EstimateError(
        f"unit {unit!r} returns a {type(output).__name__} without a tensor, so it has no "
        "features to score; name a submodule that returns a tensor in model.units"
    )


def layer_outputs(
    model: LayeredNet, x: torch.Tensor, device: str, max_dim: int, seed: int = 0
) -> tuple[list[torch.Tensor], list[tuple[int, ...]]]:
    """The boundary of every unit 1..L on images x (module docstring): L tensors [m, d_i],
    each reduced to <= max_dim (float32, on the CPU), and each boundary's shape per image."""
    model = model.to(device, memory_format=model.memory_format).eval()
    names = model.layer_names
    parts: list[list[torch.Tensor]] = [[] for _ in names]
    shapes: list[tuple[int, ...]] = [() for _ in names]
    calls = [0] * len(names)

    def hook(i: int, after: nn.Module | None):
        def take_boundary(module, inputs, output):
            calls[i] += 1
            h = first_tensor(output, names[i])
            if after is not None:
                h = after(h)
            shapes[i] = tuple(h.shape[1:])
            parts[i].append(reduce(h, max_dim, seed).float().cpu())

        return take_boundary

    handles = [
        module.register_forward_hook(hook(i, after))
        for i, (module, after) in enumerate(unit_boundaries(model))
    ]
    try:
        with torch.inference_mode():
            for start in range(0, len(x), BATCH):
                h = x[start : start + BATCH].to(device)
                if h.dim() == 4:
                    h = h.contiguous(memory_format=model.memory_format)
                calls[:] = [0] * len(names)
                model(h)
                for name, count in zip(names, calls):
                    if count != 1:
                        raise EstimateError(
                            f"unit {name!r} ran {count} times in one forward pass of the model, "
                            "so it has no single output to score; list units that run once "
                            "each in model.units"
                        )
    finally:
        for handle in handles:
            handle.remove()
    return [torch.cat(p) for p in parts], shapes


def layer_features(
    model: LayeredNet, x: torch.Tensor, device: str, max_dim: int, seed: int = 0
) -> list[torch.Tensor]:
    """The boundary of every unit 1..L on images x, each reduced to <= max_dim: L tensors
    [m, d_i] (float32, on the CPU)."""
    return layer_outputs(model, x, device, max_dim, seed)[0]
