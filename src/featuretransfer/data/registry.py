"""The registry of data sets: name -> loader, class names, fingerprint, and the in-process cache.

    fashion-mnist   IDX files (idx.py), found without a path; 10 classes
    idx             any folder of the same four IDX files; classes from the labels
    cifar10         the official python-format folder (cifar.py); 10 classes
    cifar100        the same for CIFAR-100's 100 fine classes
    image-folder    ROOT/train/<class>/*.png|jpg and ROOT/test/<class>/... (imagefolder.py)
    csv             image paths and labels in CSV files (csvdata.py)

A study names one of these in `data.name`; `data.path` (or --data) says where it lies, and the
fingerprint (fingerprint.py) what it is: `load_dataset` refuses data whose content is not the
one a job was planned with.
"""

from __future__ import annotations

import dataclasses

import torch

from featuretransfer.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_FINE_CLASSES,
    cifar_fingerprint,
    load_cifar10,
    load_cifar100,
)
from featuretransfer.data.csvdata import csv_classes, csv_fingerprint, load_csv
from featuretransfer.data.dataset import DataError, Dataset
from featuretransfer.data.idx import FASHION_MNIST_CLASSES, idx_classes, idx_fingerprint, load_idx
from featuretransfer.data.imagefolder import (
    image_files,
    image_folder_fingerprint,
    load_image_folder,
)
from featuretransfer.specs import DataSpec

LOADERS = {
    "fashion-mnist": load_idx,
    "idx": load_idx,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "image-folder": load_image_folder,
    "csv": load_csv,  # at data.image_size (default 32), read from the spec
}
FINGERPRINTS = {
    "fashion-mnist": idx_fingerprint,
    "idx": idx_fingerprint,
    "cifar10": cifar_fingerprint,
    "cifar100": cifar_fingerprint,
    "image-folder": image_folder_fingerprint,
    "csv": csv_fingerprint,
}
# Data sets whose class names are fixed by their documentation (the files are not read).
CLASS_NAMES = {
    "cifar10": CIFAR10_CLASSES,
    "cifar100": CIFAR100_FINE_CLASSES,
}
# Every data set whose names are documented, for `featuretransfer split --groups`.
DOCUMENTED_CLASSES = {"fashion-mnist": FASHION_MNIST_CLASSES, **CLASS_NAMES}
# Where `data.image_size` (the side images are resized to) applies; elsewhere it has no effect.
RESIZED = ("image-folder", "csv")

_CACHE: dict[DataSpec, Dataset] = {}


def _known(spec: DataSpec) -> None:
    if spec.name not in LOADERS:
        raise DataError(f"unknown data set {spec.name!r}; known: {', '.join(LOADERS)}")


def class_names(spec: DataSpec) -> tuple[str, ...]:
    """The classes of a data set, in label order, without loading its images."""
    _known(spec)
    if spec.name in CLASS_NAMES:
        return CLASS_NAMES[spec.name]
    if spec.name == "image-folder":
        return tuple(image_files(spec)[1])
    if spec.name == "csv":
        return csv_classes(spec)
    return idx_classes(spec)


def fingerprint(spec: DataSpec) -> str:
    """What the data of `spec` are (see fingerprint.py); "" for the canonical Fashion-MNIST."""
    _known(spec)
    return FINGERPRINTS[spec.name](spec)


def with_fingerprint(spec: DataSpec) -> DataSpec:
    """`spec` naming its data by content: what a study stores in every job's spec."""
    return dataclasses.replace(spec, fingerprint=fingerprint(spec))


def load_dataset(spec: DataSpec) -> Dataset:
    """The data set of `spec`, read once per process (a worker runs many jobs on it), after
    checking that its content is the one `spec.fingerprint` names."""
    _known(spec)
    found = fingerprint(spec)
    if found != spec.fingerprint:
        where = spec.path or "the default location"
        raise DataError(
            f"the {spec.name} data at {where} are not the data this job was planned with "
            f"(content {found or 'canonical'} instead of {spec.fingerprint or 'canonical'}): "
            "the files changed since the study was loaded; run the study again to plan its "
            "nets for these data"
        )
    key = dataclasses.replace(spec, n_train_per_class=0)  # one copy for every k
    if key not in _CACHE:
        if spec.name == "image-folder" and spec.image_size:
            _CACHE[key] = load_image_folder(spec, spec.image_size)
        else:
            _CACHE[key] = LOADERS[spec.name](spec)
    return _CACHE[key]


def train_counts(spec: DataSpec) -> tuple[int, ...]:
    """Training images per class after the validation hold-out (the data are read once)."""
    dataset = load_dataset(spec)
    return tuple(torch.bincount(dataset.train_y, minlength=len(dataset.classes)).tolist())
