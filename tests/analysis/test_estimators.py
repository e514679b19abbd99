"""The estimators against independent computations: LogME against a slow direct maximisation
of the evidence, the H-score's shrinkage against Ledoit and Wolf's formula, k-NN against a
brute-force vote; label-like features rank above random ones; every estimator is deterministic;
a dead layer gets stated values (no error, no silent nan)."""

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from featuretransfer.analysis.estimators import (
    ESTIMATORS,
    hscore,
    knn,
    layer_note,
    linear_probe,
    logme,
    null_scores,
    score_all,
)


def direct_log_evidence(f: np.ndarray, y: np.ndarray, log_alpha: float, log_beta: float) -> float:
    """log N(y; 0, I / beta + F F^T / alpha): w integrated out by hand, no SVD, no fixed point.
    With more features than images the maximum lies at beta -> infinity (y fitted exactly), so
    log alpha and log beta are held to [-30, 30], where the evidence is within 1e-13 of it."""
    m = len(y)
    alpha, beta = math.exp(np.clip(log_alpha, -30, 30)), math.exp(np.clip(log_beta, -30, 30))
    cov = np.eye(m) / beta + f @ f.T / alpha
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (y @ np.linalg.solve(cov, y) + logdet + m * math.log(2 * math.pi))


def slow_logme(f: np.ndarray, labels: np.ndarray) -> float:
    """Maximise the evidence of each class over (log alpha, log beta) with Nelder-Mead from a
    grid of starts; the mean over classes of the best value per image."""
    best = []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)
        values = []
        for start in itertools.product((-4.0, 0.0, 4.0), (-2.0, 1.0, 4.0)):
            result = minimize(
                lambda p, y=y: -direct_log_evidence(f, y, *p),
                start,
                method="Nelder-Mead",
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
            )
            values.append(-result.fun)
        best.append(max(values) / len(y))
    return float(np.mean(best))


def data(m: int, d: int, seed: int, signal: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Features of 3 classes: a class-dependent shift of `signal` in the first 2 dimensions."""
    rng = np.random.default_rng(seed)
    labels = np.arange(m) % 3
    f = rng.normal(size=(m, d))
    f[:, 0] += signal * (labels == 1)
    f[:, 1] += signal * (labels == 2)
    return f, labels


@pytest.mark.parametrize("m, d", [(40, 5), (24, 60)])  # more images than features, and fewer
def test_logme_equals_direct_maximisation_of_the_evidence(m, d):
    f, labels = data(m, d, seed=d)
    assert logme(f, labels) == pytest.approx(slow_logme(f, labels), abs=1e-6)


def label_like_and_random(m: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(m) % 5
    onehot = np.eye(5)[labels]
    label_like = np.hstack([onehot, onehot]) + 0.1 * rng.normal(size=(m, 10))
    return labels, label_like, rng.normal(size=(m, 10))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_label_like_features_rank_above_random_ones(name):
    labels, good, bad = label_like_and_random()
    half = len(labels) // 2
    scores = [
        score_all(f[:half], labels[:half], f[half:], labels[half:])[name] for f in (good, bad)
    ]
    assert scores[0] > scores[1]


def test_logme_of_features_equal_to_the_labels_is_finite_and_above_random():
    labels, _, random = label_like_and_random()
    equal = np.eye(5)[labels]  # the labels themselves: fitted exactly, beta at its bound
    assert math.isfinite(logme(equal, labels))
    assert logme(equal, labels) > logme(random, labels)


def test_logme_is_invariant_to_the_order_of_images():
    f, labels = data(60, 8, seed=3)
    order = np.random.default_rng(1).permutation(60)
    assert logme(f[order], labels[order]) == pytest.approx(logme(f, labels), rel=1e-10)


def ledoit_wolf_by_hand(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit and Wolf (2004), Lemma 3.2 and Theorem 3.1, with norms scaled by 1/d."""
    m, d = x.shape
    x = x - x.mean(0)
    s = x.T @ x / m
    mu = np.trace(s) / d
    delta2 = np.sum((s - mu * np.eye(d)) ** 2) / d
    beta2 = sum(np.sum((np.outer(row, row) - s) ** 2) for row in x) / d / m**2
    shrink = min(beta2, delta2) / delta2
    return (1 - shrink) * s + shrink * mu * np.eye(d), shrink


def test_hscore_equals_its_formula_with_ledoit_wolf_by_hand():
    f, labels = data(50, 12, seed=4)
    cov, shrink = ledoit_wolf_by_hand(f)
    between = np.zeros((12, 12))
    for i in range(len(f)):  # each image replaced by its class mean, one outer product each
        g = f[labels == labels[i]].mean(0) - f.mean(0)
        between += np.outer(g, g) / len(f)
    expected = np.trace(np.linalg.inv(cov) @ ((1 - shrink) * between))
    assert hscore(f, labels) == pytest.approx(expected, rel=1e-9)


def test_knn_equals_a_brute_force_vote():
    f, labels = data(90, 4, seed=5, signal=2.0)
    fit_x, fit_y, held_x, held_y = f[:60], labels[:60], f[60:], labels[60:]
    mean, std = fit_x.mean(0), fit_x.std(0)
    a, b = (fit_x - mean) / std, (held_x - mean) / std
    correct = 0
    for x, y in zip(b, held_y):
        nearest = np.argsort(((a - x) ** 2).sum(1), kind="stable")[:5]
        votes = np.bincount(fit_y[nearest], minlength=3)
        correct += int(np.argmax(votes) == y)  # argmax: ties to the lowest label
    assert knn(fit_x, fit_y, held_x, held_y, k=5) == pytest.approx(correct / len(held_y))


def test_linear_probe_separates_separable_classes_and_not_noise():
    rng = np.random.default_rng(6)
    labels = np.arange(200) % 4
    separable = np.eye(4)[labels] * 5 + rng.normal(size=(200, 4)) * 0.1
    noise = rng.normal(size=(200, 4))
    assert linear_probe(separable[:100], labels[:100], separable[100:], labels[100:]) == 1.0
    assert linear_probe(noise[:100], labels[:100], noise[100:], labels[100:]) < 0.5


def test_every_estimator_is_deterministic():
    f, labels = data(120, 16, seed=7)
    first = score_all(f[:80], labels[:80], f[80:], labels[80:])
    second = score_all(f[:80].copy(), labels[:80], f[80:].copy(), labels[80:])
    assert first == second and set(first) == set(ESTIMATORS)


DEAD = {"all zeros": 0.0, "one value": 2.5}


@pytest.mark.parametrize("m, d", [(60, 8), (20, 40)])  # more images than features, and fewer
@pytest.mark.parametrize("dead", DEAD)
def test_a_dead_layer_gets_stated_values_without_error_or_warning(dead, m, d):
    labels = np.arange(m) % 3
    f = np.full((m, d), DEAD[dead])
    half = m // 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero, no log of 0, no nan made quietly
        scores = score_all(f[:half], labels[:half], f[half:], labels[half:])
    assert all(math.isfinite(v) for v in scores.values())
    assert scores["hscore"] == 0.0  # no variance, none of it between classes
    majority = np.mean(labels[half:] == np.bincount(labels[:half]).argmax())
    assert scores["linear_probe"] == scores["knn"] == pytest.approx(majority)
    assert layer_note(f).startswith("a constant layer")
    assert layer_note(np.random.default_rng(0).normal(size=(m, d))) == ""


def test_logme_of_an_all_zero_layer_is_the_evidence_of_the_labels_alone():
    """Its closed form, 1/2 log(m / m_c) - 1/2 log(2 pi) - 1/2 per image and class, equals the
    slow direct maximisation (F F^T = 0) and the fixed point, and lies below any features'."""
    labels = np.array([0] * 10 + [1] * 6 + [2] * 4)
    zeros = np.zeros((20, 5))
    by_hand = np.mean(
        [0.5 * math.log(20 / c) - 0.5 * math.log(2 * math.pi) - 0.5 for c in (10, 6, 4)]
    )
    assert null_scores(labels, labels)["logme"] == pytest.approx(by_hand, abs=1e-12)
    assert logme(zeros, labels) == pytest.approx(by_hand, abs=1e-9)
    assert slow_logme(zeros, labels) == pytest.approx(by_hand, abs=1e-6)
    f, _ = data(20, 5, seed=9)
    assert logme(f, labels) >= by_hand  # the maximum over alpha includes w = 0


def test_features_that_are_not_finite_give_nan_with_a_reason():
    f, labels = data(40, 4, seed=10)
    f[3, 1] = np.inf
    scores = score_all(f[:30], labels[:30], f[30:], labels[30:])
    assert all(math.isnan(v) for v in scores.values())
    assert "not finite" in layer_note(f)
