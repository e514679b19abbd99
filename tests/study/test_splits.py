import numpy as np
import pytest
import torch

from featuretransfer.data.halves import half_of
from featuretransfer.data.idx import FASHION_MNIST_CLASSES
from featuretransfer.study.splits import (
    SplitError,
    builtin_group_split,
    group_split,
    random_split,
)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 17])
@pytest.mark.parametrize("n_classes", [10, 1000])
def test_random_split_is_the_original_construction(seed, n_classes):
    split = random_split(n_classes, seed)
    expected_a = sorted(
        np.random.RandomState([seed]).choice(n_classes, n_classes // 2, replace=False)
    )
    assert list(split.A) == expected_a
    assert not set(split.A) & set(split.B)
    assert sorted(split.A + split.B) == list(range(n_classes))
    assert len(split.A) == len(split.B) == n_classes // 2
    assert random_split(n_classes, seed) == split


def test_random_split_known_values_and_list_seeding():
    assert random_split(10, 0).A == (0, 1, 3, 7, 8)
    # RandomState(seed) and RandomState([seed]) draw differently: the list form is the original's
    plain = sorted(np.random.RandomState(0).choice(1000, 500, replace=False))
    assert list(random_split(1000, 0).A) != plain


def test_group_split_by_name_and_index():
    split = group_split("mine", ["Sandal", 7], ["Bag", 9], FASHION_MNIST_CLASSES)
    assert split.A == (5, 7) and split.B == (8, 9) and split.kind == "semantic"
    builtin = builtin_group_split("fashion-mnist", "apparel-vs-footwear", FASHION_MNIST_CLASSES)
    assert builtin.A == (0, 1, 2, 3, 4, 6) and builtin.B == (5, 7, 8, 9)


@pytest.mark.parametrize(
    "a, b, message",
    [
        (["Sandal"], ["Sandal", "Bag"], "overlap in Sandal"),
        ([], ["Bag"], "group A is empty"),
        (["Sandals"], ["Bag"], "unknown class 'Sandals'"),
        ([12], ["Bag"], "class index 12"),
    ],
)
def test_group_split_errors(a, b, message):
    with pytest.raises(SplitError, match=message):
        group_split("mine", a, b, FASHION_MNIST_CLASSES)


def test_a_half_is_its_classes_relabelled_0_k_minus_1_and_the_first_k_of_each():
    labels = torch.tensor([5, 0, 9, 3, 5, 8, 3, 5])
    index, new = half_of(labels, (3, 5, 9))
    assert index.tolist() == [0, 2, 3, 4, 6, 7]
    assert new.tolist() == [1, 2, 0, 1, 0, 1]
    index, new = half_of(labels, (3, 5, 9), per_class=1)  # the first image of each class
    assert index.tolist() == [0, 2, 3] and new.tolist() == [1, 2, 0]
    two = half_of(labels, (3, 5, 9), per_class=2)[0].tolist()
    assert set(index.tolist()) <= set(two)  # nested: a larger k only adds images
