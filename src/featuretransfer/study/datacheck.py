"""A study checked against its data before anything trains: every class it names exists, and no
setting asks for more training images per class than a class holds, so that a net recorded as
trained on k images per class has seen k."""

from __future__ import annotations

import torch

from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import train_counts
from featuretransfer.study.studyspec import StudyError, StudySpec


def class_counts(data) -> tuple[int, ...]:
    try:
        return train_counts(data)
    except DataError as e:
        raise StudyError(str(e)) from None


def check_against_data(study: StudySpec, dataset) -> None:
    """Refuse a study that asks the data for more than they hold: a class index beyond the data
    set's classes, or more training images per class than a class has (after the validation
    hold-out). A net recorded as trained on k images per class must have seen k."""
    n_classes = len(dataset.classes)
    counts = torch.bincount(dataset.train_y, minlength=n_classes).tolist()
    for split in study.splits:
        if max(split.A + split.B) >= n_classes:
            raise StudyError(
                f"split {split.name} names class {max(split.A + split.B)}, but the data have "
                f"{n_classes} classes (0..{n_classes - 1})"
            )
    asked = [("data.n_train_per_class", study.data.n_train_per_class)]
    asked += [("volume.n_train_per_class", k) for k in study.volume.n_train_per_class]
    used = sorted({c for split in study.splits for c in split.A + split.B})
    fewest = min(used, key=lambda c: counts[c])
    for key, k in asked:
        if k > counts[fewest]:
            raise StudyError(
                f"{key} = {k}, but class {dataset.classes[fewest]!r} has only {counts[fewest]} "
                f"training images (after data.n_val = {study.data.n_val} held out for "
                f"validation); give at most {counts[fewest]}, or 0 for all of them"
            )
