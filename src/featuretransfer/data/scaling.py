"""How a data set's uint8 pixels are scaled before a net sees them (`data.normalize`): the one
rule that training (run/job.py) and the estimates (analysis/features.py) both follow.

    "mean-std"  (x - mean) / std, the training images' own mean and std (uint8 units)
    "mean"      x - mean, as Caffe fed its nets
    "model"     x / 255: pixel values in 0..1, which the model normalises itself (an hf: model by
                its pretrained source's image processor's per-channel mean and std, nets/hf.py)
"""

from __future__ import annotations

from featuretransfer.data.dataset import Dataset
from featuretransfer.specs import DataSpec

PIXEL_MAX = 255.0  # uint8 pixels: "model" inputs are x / PIXEL_MAX, in 0..1


def input_scaling(spec: DataSpec, dataset: Dataset) -> tuple[float, float]:
    """(mean, std) in uint8 units: a net's input is (x - mean) / std for uint8 pixels x."""
    if spec.normalize == "model":
        return 0.0, PIXEL_MAX
    if spec.normalize == "mean":
        return dataset.pixel_mean, 1.0
    return dataset.pixel_mean, dataset.pixel_std
