"""The registry of data sets: name -> loader, class names, and the in-process cache.

    fashion-mnist   IDX files (idx.py), found without a path; 10 classes
    cifar10         the official python-format folder (cifar.py); 10 classes
    cifar100        the same for CIFAR-100's 100 fine classes
    image-folder    ROOT/train/<class>/*.png|jpg and ROOT/test/<class>/...; 32x32 px

A study names one of these in `data.name`; `data.path` (or --data) says where it lies.
"""

from __future__ import annotations

from pathlib import Path

from featuretransfer.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_FINE_CLASSES,
    load_cifar10,
    load_cifar100,
)
from featuretransfer.data.dataset import DataError, Dataset
from featuretransfer.data.idx import FASHION_MNIST_CLASSES, load_fashion_mnist
from featuretransfer.data.imagefolder import load_image_folder
from featuretransfer.specs import DataSpec

LOADERS = {
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "image-folder": load_image_folder,
}
CLASS_NAMES = {
    "fashion-mnist": FASHION_MNIST_CLASSES,
    "cifar10": CIFAR10_CLASSES,
    "cifar100": CIFAR100_FINE_CLASSES,
}

_CACHE: dict[tuple, Dataset] = {}


def class_names(spec: DataSpec) -> tuple[str, ...]:
    """The classes of a data set, in label order, without loading its images."""
    if spec.name in CLASS_NAMES:
        return CLASS_NAMES[spec.name]
    if spec.name != "image-folder":
        raise DataError(f"unknown data set {spec.name!r}; known: {', '.join(LOADERS)}")
    if spec.path is None:
        raise DataError(
            "image-folder needs data.path (or --data): the folder that holds "
            "train/<class>/ and test/<class>/ (or val/<class>/)"
        )
    train = Path(spec.path) / "train"
    if not train.is_dir():
        raise DataError(
            f"data.path {spec.path} has no train/ folder; give the folder that holds "
            "train/<class>/ and test/<class>/ (or val/<class>/)"
        )
    names = tuple(sorted(d.name for d in train.iterdir() if d.is_dir()))
    if not names:
        raise DataError(f"{train} has no class folders")
    return names


def load_dataset(spec: DataSpec) -> Dataset:
    """The data set of `spec`, read once per process (a worker runs many jobs on it)."""
    if spec.name not in LOADERS:
        raise DataError(f"unknown data set {spec.name!r}; known: {', '.join(LOADERS)}")
    key = (spec.name, spec.n_val, spec.val_seed, spec.path, spec.image_size)
    if key not in _CACHE:
        if spec.name == "image-folder" and spec.image_size:
            _CACHE[key] = load_image_folder(spec, spec.image_size)
        else:
            _CACHE[key] = LOADERS[spec.name](spec)
    return _CACHE[key]
