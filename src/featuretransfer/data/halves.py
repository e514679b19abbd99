"""The images of one half of a split, as every net and every estimate takes them: those of the
half's classes in data order, labels remapped to 0..k-1 in the order of the classes, and, where a
study keeps only k training images per class, the first k of each class (nested: a larger k only
adds images, so the data-volume nets of one half share their images)."""

from __future__ import annotations

import torch


def half_of(
    labels: torch.Tensor, classes: tuple[int, ...], per_class: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the indices of the images in `classes`, their labels 0..k-1); with per_class > 0 only
    the first per_class images of each class."""
    size = max(int(labels.max()), max(classes)) + 1
    lookup = torch.full((size,), -1, dtype=torch.long)
    lookup[list(classes)] = torch.arange(len(classes))
    new = lookup[labels]
    index = torch.nonzero(new >= 0).squeeze(1)
    new = new[index]
    if per_class:
        rank = torch.zeros_like(new)
        for c in range(len(classes)):
            rank[new == c] = torch.arange(int((new == c).sum()))
        index, new = index[rank < per_class], new[rank < per_class]
    return index, new
