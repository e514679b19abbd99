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
from collections.abc import Callable
from dataclasses import dataclass

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
    DEFAULT_IMAGE_SIZE,
    image_files,
    image_folder_fingerprint,
    load_image_folder,
)
from featuretransfer.specs import DataSpec


@dataclass(frozen=True)
class DataSet:
    """One data set a study may name (`data.name`): everything the package knows of it, in one
    entry, so a new data set is one more entry in DATA_SETS."""

    load: Callable[[DataSpec], Dataset]  # the images, read and held in memory (or on disk)
    fingerprint: Callable[[DataSpec], str]  # what the files are, by content (fingerprint.py)
    classes: Callable[[DataSpec], tuple[str, ...]]  # the classes in label order, images unread
    documented: tuple[str, ...] = ()  # names fixed by its documentation (`split --groups`)
    resized: bool = False  # data.image_size (the side images are resized to) applies


def _image_folder(spec: DataSpec) -> Dataset:
    return load_image_folder(spec, spec.image_size or DEFAULT_IMAGE_SIZE)


DATA_SETS = {
    "fashion-mnist": DataSet(load_idx, idx_fingerprint, idx_classes, FASHION_MNIST_CLASSES),
    "idx": DataSet(load_idx, idx_fingerprint, idx_classes),
    "cifar10": DataSet(
        load_cifar10, cifar_fingerprint, lambda spec: CIFAR10_CLASSES, CIFAR10_CLASSES
    ),
    "cifar100": DataSet(
        load_cifar100, cifar_fingerprint, lambda spec: CIFAR100_FINE_CLASSES, CIFAR100_FINE_CLASSES
    ),
    "image-folder": DataSet(
        _image_folder,
        image_folder_fingerprint,
        lambda spec: tuple(image_files(spec)[1]),
        resized=True,
    ),
    "csv": DataSet(load_csv, csv_fingerprint, csv_classes, resized=True),
}
# the data sets whose class names are documented, for `featuretransfer split --groups`
DOCUMENTED_CLASSES = {name: d.documented for name, d in DATA_SETS.items() if d.documented}

_CACHE: dict[DataSpec, Dataset] = {}


def data_set(spec: DataSpec) -> DataSet:
    """The registry's entry of `spec`'s data set, or a DataError naming the known ones."""
    if spec.name not in DATA_SETS:
        raise DataError(f"unknown data set {spec.name!r}; known: {', '.join(DATA_SETS)}")
    return DATA_SETS[spec.name]


def class_names(spec: DataSpec) -> tuple[str, ...]:
    """The classes of a data set, in label order, without loading its images."""
    return data_set(spec).classes(spec)


def fingerprint(spec: DataSpec) -> str:
    """What the data of `spec` are: a hash of their content (see fingerprint.py)."""
    return data_set(spec).fingerprint(spec)


def with_fingerprint(spec: DataSpec) -> DataSpec:
    """`spec` naming its data by content: what a study stores in every job's spec."""
    return dataclasses.replace(spec, fingerprint=fingerprint(spec))


def load_dataset(spec: DataSpec) -> Dataset:
    """The data set of `spec`, read once per process (a worker runs many jobs on it), after
    checking that its content is the one `spec.fingerprint` names."""
    found = fingerprint(spec)
    if found != spec.fingerprint:
        where = spec.path or "the default location"
        raise DataError(
            f"the {spec.name} data at {where} are not the data this job was planned with "
            f"(content {found} instead of {spec.fingerprint}): "
            "the files changed since the study was loaded; run the study again to plan its "
            "nets for these data"
        )
    key = dataclasses.replace(spec, n_train_per_class=0)  # one copy for every k
    if key not in _CACHE:
        _CACHE[key] = data_set(spec).load(spec)
    return _CACHE[key]


def train_counts(spec: DataSpec) -> tuple[int, ...]:
    """Training images per class after the validation hold-out (the data are read once)."""
    dataset = load_dataset(spec)
    return tuple(torch.bincount(dataset.train_y, minlength=len(dataset.classes)).tolist())
