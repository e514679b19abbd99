"""Class splits into halves A and B: random halves (the original construction) or named groups.

Run `featuretransfer split --classes 10 --seed 0` to see one.
"""

from __future__ import annotations

import numpy as np

from featuretransfer.data.cifar import cifar10_group_split_classes, cifar100_group_split_classes
from featuretransfer.data.imagefolder import imagenet_group_split_classes
from featuretransfer.specs import SplitSpec

# Dissimilar (semantic) splits built in per data set, as (A, B) lists of class names: the analogue
# of the paper's man-made vs natural ImageNet split.
GROUP_SPLITS = {
    "fashion-mnist": {
        "apparel-vs-footwear": (
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt"),  # apparel
            ("Sandal", "Sneaker", "Bag", "Ankle boot"),  # footwear and bags
        ),
    },
    "cifar10": {"vehicles-vs-animals": cifar10_group_split_classes()},
    # CIFAR-100's coarse labels: 6 man-made superclasses (30 classes) vs 14 natural (70)
    "cifar100": {"man-made-vs-natural": cifar100_group_split_classes()},
    # the paper's own split of ILSVRC2012 (class indices in sorted-wnid order): 551 man-made
    # vs 449 natural; for an image folder holding the 1000 ImageNet classes
    "image-folder": {"imagenet-man-made-vs-natural": imagenet_group_split_classes()},
}


class SplitError(ValueError):
    """An impossible split; the message names the offending class or group."""


def random_split(n_classes: int, seed: int) -> SplitSpec:
    """Random halves exactly as the original study drew them.

    The one-element list in RandomState([seed]) is deliberate: it seeds through init_by_array,
    which gives other draws than RandomState(seed), and it is what the original code used.
    """
    if n_classes < 2:
        raise SplitError(f"a random split needs at least 2 classes, got {n_classes}")
    a = sorted(
        int(c)
        for c in np.random.RandomState([seed]).choice(n_classes, n_classes // 2, replace=False)
    )
    b = [c for c in range(n_classes) if c not in a]
    return SplitSpec(name=f"s{seed}", kind="random", A=tuple(a), B=tuple(b))


def _class_index(item, class_names: tuple[str, ...], group: str) -> int:
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        raise SplitError(f"group {group}: {item!r} is neither a class name nor an index")
    if isinstance(item, int):
        if not 0 <= item < len(class_names):
            raise SplitError(f"group {group}: class index {item} not in 0..{len(class_names) - 1}")
        return item
    if item not in class_names:
        raise SplitError(f"group {group}: unknown class {item!r}; known: {', '.join(class_names)}")
    return class_names.index(item)


def group_split(
    name: str, a: list, b: list, class_names: tuple[str, ...], kind: str = "semantic"
) -> SplitSpec:
    """A split from two groups of class names or indices: dissimilar halves ("semantic") unless
    the groups are a random draw ("random", which Figure 2 and Table 1 then count)."""
    a_idx = [_class_index(c, class_names, f"{name}.A") for c in a]
    b_idx = [_class_index(c, class_names, f"{name}.B") for c in b]
    for half, idx in (("A", a_idx), ("B", b_idx)):
        if not idx:
            raise SplitError(f"split {name}: group {half} is empty")
        if len(set(idx)) != len(idx):
            raise SplitError(f"split {name}: group {half} names a class twice")
    overlap = sorted(set(a_idx) & set(b_idx))
    if overlap:
        names = ", ".join(class_names[c] for c in overlap)
        raise SplitError(f"split {name}: groups A and B overlap in {names}; a class goes in one")
    return SplitSpec(name=name, kind=kind, A=tuple(sorted(a_idx)), B=tuple(sorted(b_idx)))


def builtin_group_split(
    data_name: str, name: str, class_names: tuple[str, ...], kind: str = "semantic"
) -> SplitSpec:
    known = GROUP_SPLITS.get(data_name, {})
    if name not in known:
        raise SplitError(
            f"no built-in group split {name!r} for {data_name}; known: {', '.join(known) or 'none'}"
        )
    a, b = known[name]
    return group_split(name, list(a), list(b), class_names, kind)


def target_split(classes: list | None, class_names: tuple[str, ...]) -> SplitSpec:
    """The target of a pretrained-source study: half B is `classes` (all if None), half A is
    empty (the source stands in its place)."""
    if classes is None:
        b_idx = list(range(len(class_names)))
    else:
        b_idx = [_class_index(c, class_names, "source.classes") for c in classes]
    if len(b_idx) < 2 or len(set(b_idx)) != len(b_idx):
        raise SplitError("source.classes should name at least 2 classes, each once")
    return SplitSpec(name="target", kind="source", A=(), B=tuple(sorted(b_idx)))
