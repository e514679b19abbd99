"""Sanity checks of linear CKA that published implementations have failed: 1 with itself,
invariant to orthogonal transforms and isotropic scaling, symmetric, near 0 (and not clipped)
for independent features; the debiased HSIC equals its U-statistic computed by brute force."""

import itertools

import numpy as np
import pytest
import torch

from featuretransfer.analysis.similarity import cka_matrix, gram, hsic, linear_cka


def features(m: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(m, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_cka_of_features_with_themselves_is_one():
    x = features(50, 20, 0)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    relu = torch.relu(features(50, 300, 1))  # more features than images, all >= 0
    assert linear_cka(relu, relu) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x, y = features(60, 10, 2), features(60, 15, 3)
    y = y + x @ features(10, 15, 4)  # related to x, so the CKA is far from 0 and from 1
    q, _ = torch.linalg.qr(features(10, 10, 5))
    base = linear_cka(x, y)
    assert 0.2 < base < 0.95
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-12)
    assert linear_cka(3.7 * x, 0.01 * y) == pytest.approx(base, abs=1e-12)


def test_cka_is_symmetric():
    x, y = features(40, 7, 6), features(40, 9, 7)
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), abs=1e-15)


def biased_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """The plain estimator, tr(KHLH) normalised: what the debiased one is there to fix."""
    h = torch.eye(len(x), dtype=torch.float64) - 1 / len(x)
    k, l_ = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float((k * l_).sum() / (k.norm() * l_.norm()))


def test_debiased_cka_of_independent_features_is_near_zero_and_not_clipped():
    values = [linear_cka(features(100, 50, 2 * i), features(100, 50, 2 * i + 1)) for i in range(20)]
    assert abs(np.mean(values)) < 0.01
    assert max(abs(v) for v in values) < 0.05
    assert min(values) < 0  # an unbiased estimate of 0 is negative about half the time
    # the test can tell: the biased estimator sees similarity in the same independent features
    assert biased_cka(features(100, 50, 0), features(100, 50, 1)) > 0.3


def test_debiased_hsic_equals_its_u_statistic_by_brute_force():
    x, y = features(7, 3, 8), features(7, 4, 9)
    k, l_ = (x @ x.T).numpy(), (y @ y.T).numpy()
    terms = [
        k[i, j] * l_[i, j] + k[i, j] * l_[q, r] - 2 * k[i, j] * l_[i, q]
        for i, j, q, r in itertools.permutations(range(7), 4)
    ]
    assert hsic(gram(x), gram(y)) == pytest.approx(np.mean(terms), rel=1e-10)


def test_cka_matrix_holds_every_pair_of_layers():
    layers = [features(30, d, d) for d in (3, 5, 8)]
    grams = [gram(x) for x in layers]
    matrix = cka_matrix(grams, grams[:2])
    assert matrix.shape == (3, 2)
    assert matrix[1, 1] == pytest.approx(1.0)
    assert matrix[2, 0] == pytest.approx(linear_cka(layers[2], layers[0]))


def test_a_constant_layer_gives_nan_with_its_reason_not_a_silent_nan():
    from featuretransfer.analysis.groups import FeatureNet
    from featuretransfer.analysis.maps import cell

    dead, live = torch.zeros(30, 6, dtype=torch.float64), features(30, 6, 11)
    net = FeatureNet("k", "s0:baseA#0", job=None)
    row = cell("A-B", "s0:A->B#0", net, net, 0, "conv3", "conv3", gram(dead), gram(live))
    assert np.isnan(row["cka"])
    assert row["note"] == "CKA undefined: conv3 of s0:baseA#0 does not vary over the images"
    fine = cell("A-B", "g", net, net, 0, "conv1", "conv1", gram(live), gram(live))
    assert fine["note"] == "" and fine["cka"] == pytest.approx(1.0)
