"""A net's images in memory and the passes over them without training: evaluation (top-1),
the frozen prefix's features computed once (the cache), batches drawn by index, the training
augmentation, and the bf16 autocast every pass runs under. Knows nothing of files or studies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from featuretransfer.data.augment import augment, center_crop
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.specs import TrainSpec, seed_hash

EVAL_BATCH = 2048  # images per forward pass at evaluation; no autograd there, so memory is small


@dataclass(frozen=True)
class Images:
    """Inputs of a net and int64 labels: uint8 images [N, C, H, W], scaled per batch by mean and
    std (uint8 units), or float features of a frozen prefix, used as they are. With `crop`,
    evaluation sees the centre crop x crop window; training draws its own (`augmenter`)."""

    x: torch.Tensor
    y: torch.Tensor
    mean: float = 0.0
    std: float = 1.0
    crop: int = 0

    def batch(
        self, idx: torch.Tensor, device: str, transform: Callable | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images idx on `device`: `transform`ed (a training augmentation) or centre-cropped."""
        x = self.x[idx.to(self.x.device)].to(device, non_blocking=True)
        if transform is not None:
            x = transform(x)
        elif self.crop:
            x = center_crop(x, self.crop)
        if x.dtype == torch.uint8:
            x = (x.float() - self.mean) / self.std
        return x, self.y[idx.to(self.y.device)].to(device, non_blocking=True)

    def to(self, device: str) -> Images:
        """The same images kept on `device` (a GPU: no host-to-device copy per batch)."""
        return dataclasses.replace(self, x=self.x.to(device), y=self.y.to(device))


def batches(n: int, size: int = EVAL_BATCH):
    for start in range(0, n, size):
        yield torch.arange(start, min(start + size, n))


def autocast(device: str, precision: str):
    """bfloat16 autocast for precision "bf16" (matmuls and convolutions in bf16, reductions and
    the loss in fp32), else a no-op."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def evaluate(
    model: LayeredNet, data: Images, device: str, start: int = 0, precision: str = "fp32"
) -> float:
    """Top-1 accuracy on `data` (the output of layer `start`), in eval mode, in large batches."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)  # one sync at the end
    with torch.inference_mode(), autocast(device, precision):
        for idx in batches(len(data.y)):
            x, y = data.batch(idx, device)
            correct += (model(x, start=start).argmax(1) == y).sum()
    model.train(was_training)
    return correct.item() / len(data.y)


def prefix_features(
    model: LayeredNet, data: Images, cut: int, device: str, precision: str = "fp32"
) -> Images:
    """The output of layers 1..cut for every image, computed once (eval mode, no autograd),
    under the autocast the training uses, so a cached prefix computes what an uncached one does.

    Only valid where those layers are frozen and deterministic in training mode (no dropout):
    then training on these features gives the same net as training on the images.
    """
    was_training = model.training
    model.eval()
    # not inference_mode: training reads these tensors under autograd
    with torch.no_grad(), autocast(device, precision):
        parts = [model(data.batch(idx, device)[0], stop=cut) for idx in batches(len(data.y))]
    model.train(was_training)
    # in the net's layout: NCHW features made a step at n = 1..4 1.02-1.12x slower (2 cores)
    layout = model.memory_format if parts[0].dim() == 4 else torch.contiguous_format
    return Images(torch.cat(parts).contiguous(memory_format=layout), data.y.to(device))


def augmenter(spec: TrainSpec, seed: int) -> tuple[Callable | None, torch.Generator]:
    """The training transform of `spec` (random crop and/or mirror; None without augmentation)
    and its random stream, seeded from the data-order seed."""
    rng = torch.Generator().manual_seed(seed_hash(seed, "augment"))
    if not spec.augments:
        return None, rng

    def transform(x: torch.Tensor) -> torch.Tensor:
        crop = spec.crop or min(x.shape[-2:])
        return augment(x, crop, spec.crop_pad, rng, spec.mirror)

    return transform, rng
