"""Transferability estimators: how well features of a frozen prefix suit a target task, in
seconds instead of a training run. Each takes features [m, d] and integer labels and returns one
number, higher = better transfer expected.

    logme         LogME (You et al. 2021): the Bayesian evidence of a linear model of the
                  one-hot labels on the features, per image, mean over classes
    hscore        regularised H-score (Bao et al. 2019; Ibrahim et al. 2022): how much of the
                  features' variance lies between classes, with a Ledoit-Wolf shrinkage covariance
    linear_probe  held-out top-1 of multinomial logistic regression on standardised features: a
                  cheap AnB with a linear head (scikit-learn)
    knn           held-out top-1 of k-nearest neighbours on standardised features (scikit-learn)

LogME is written from the paper (the PyPI package named "logme" is an unrelated logging tool).
Everything runs in float64 on the CPU and is deterministic: no estimator draws random numbers.

A layer that does not vary over the images (dead: all zeros, or every feature one value) tells
no image from another. It gets stated values, never an error or a silent nan (`layer_note`
says which): H-score 0 (no between-class variance), the probe and k-NN the held-out top-1 of
the fit images' majority class, LogME its evidence as computed (of the labels from a constant,
i.e. an intercept; from nothing at all for an all-zero layer). Features that are not finite
(a diverged net) get nan, with the reason in the note. `null_scores` are the scores of an
all-zero layer: what each estimator gives for no information at all.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

LOGME_MAX_ITER = 3000  # fixed-point steps, at most (~50 us each for 512 features, 5 classes)
LOGME_TOL = 1e-9  # relative change of alpha and beta at which the fixed point has converged
BETA_MAX = 1e12  # noise precision of the one-hot labels at most: noise std >= 1e-6
SIGMA_TOL = 1e-12  # eigenvalues of F^T F below this fraction of the largest count as 0
# L-BFGS steps of the linear probe: against 500, 100 took the default study's estimators from
# 25.8 to 19.6 s and moved the probe's held-out top-1 by 0.14 points on average (at most 0.8;
# the cuts' ranks per group correlate at rho >= 0.89)
PROBE_MAX_ITER = 100


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME of features F [m, d] for integer labels: the mean over classes c of the maximised
    log evidence, per image, of y_c = (labels == c) under w ~ N(0, I / alpha),
    y_c ~ N(F w, I / beta) (You et al. 2021, Algorithm 1).

    One eigendecomposition of F^T F (or of F F^T, whichever is smaller) serves every class: in
    its basis the posterior of w is diagonal, so a fixed-point step (MacKay's updates alpha =
    gamma / |mean|^2, beta = (m - gamma) / |F mean - y|^2, gamma the effective number of
    parameters) costs O(min(m, d)) per class, all classes at once. Iterated to convergence, not
    for the paper's fixed few steps: for a class that the features hardly explain alpha / beta
    grows slowly, and 10 steps leave the evidence ~3e-4 per image short of its maximum
    (random features, m = 2000, d = 512). Where F fits y exactly (d >= m) the maximum lies at
    beta -> infinity; beta stops at BETA_MAX, within 1e-9 of it.
    """
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    m, d = f.shape
    y = (labels[:, None] == np.unique(labels)[None, :]).astype(np.float64)  # one-hot [m, k]
    # Per direction of the eigenbasis: sigma (eigenvalue of F^T F) and q (|y|^2 along it,
    # in F's column space); `outside`: |y|^2 that no w can fit.
    if m >= d:
        sigma, v = np.linalg.eigh(f.T @ f)
        keep = sigma > SIGMA_TOL * max(sigma.max(), 0.0)  # the rest: directions F lacks
        sigma, v = sigma[keep, None], v[:, keep]
        fit = v.T @ (f.T @ y)  # = sqrt(sigma) * (U^T y)
        q = fit * fit / sigma
        residual = y - f @ (v @ (fit / sigma))  # least-squares residual, computed directly
        outside = (residual * residual).sum(0)
    else:
        sigma, u = np.linalg.eigh(f @ f.T)  # U spans all of R^m: nothing lies outside
        sigma = np.maximum(sigma, 0.0)[:, None]
        q = (u.T @ y) ** 2
        outside = np.zeros(y.shape[1])
    r = len(sigma)  # directions of w with sigma > 0; the other d - r have sigma = 0
    alpha, beta = np.ones(y.shape[1]), np.ones(y.shape[1])

    def posterior(alpha, beta):
        """(|mean|^2, |F mean - y|^2, gamma) of the posterior of w at alpha, beta."""
        shrink = alpha + beta * sigma
        norm2 = (sigma * q * (beta / shrink) ** 2).sum(0)
        misfit = (q * (alpha / shrink) ** 2).sum(0) + outside
        return norm2, misfit, (beta * sigma / shrink).sum(0)

    tiny = np.finfo(np.float64).tiny
    for _ in range(LOGME_MAX_ITER):
        norm2, misfit, gamma = posterior(alpha, beta)
        # where no direction fits (gamma = 0: an all-zero layer) the evidence does not depend
        # on alpha (its terms cancel), so alpha keeps its value instead of running to 0
        new_alpha = np.where(gamma > 0, gamma / np.maximum(norm2, tiny), alpha)
        new_beta = np.minimum((m - gamma) / np.maximum(misfit, tiny), BETA_MAX)
        change = max(np.abs(new_alpha / alpha - 1).max(), np.abs(new_beta / beta - 1).max())
        alpha, beta = new_alpha, new_beta
        if change < LOGME_TOL:
            break
    norm2, misfit, _ = posterior(alpha, beta)
    logdet = np.log(alpha + beta * sigma).sum(0) + (d - r) * np.log(alpha)  # |alpha + beta F^T F|
    evidence = (
        m / 2 * np.log(beta)
        + d / 2 * np.log(alpha)
        - m / 2 * math.log(2 * math.pi)
        - beta / 2 * misfit
        - alpha / 2 * norm2
        - logdet / 2
    )
    return float(np.mean(evidence / m))


def hscore(features: np.ndarray, labels: np.ndarray) -> float:
    """Regularised H-score tr(S_a^-1 (1 - a) S_between) (Ibrahim et al. 2022, after Bao et al.
    2019): S_a = (1 - a) S + a tr(S) / d I is the Ledoit-Wolf shrinkage of the features'
    covariance S, a its shrinkage, S_between the covariance of each image's class mean. The
    plain H-score inverts S itself, which is singular or nearly so for ReLU features (dead
    units, d near m) and makes the score noise."""
    f = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if is_constant(f):  # S = S_between = 0: no variance, and none of it between classes
        return 0.0
    shrunk = LedoitWolf(store_precision=False).fit(f)
    classes, index = np.unique(labels, return_inverse=True)
    means = np.stack([f[index == i].mean(0) for i in range(len(classes))])
    between = means[index] - f.mean(0)
    between = between.T @ between / len(f)
    solved = np.linalg.solve(shrunk.covariance_, (1 - shrunk.shrinkage_) * between)
    return float(np.trace(solved))


def linear_probe(
    fit_x: np.ndarray, fit_y: np.ndarray, held_x: np.ndarray, held_y: np.ndarray, c: float = 1.0
) -> float:
    """Held-out top-1 of multinomial logistic regression (L2, inverse strength c) fitted on the
    standardised fit features: the layers above the cut replaced by one linear layer."""
    if is_constant(fit_x):
        return majority_top1(fit_y, held_y)
    scaler = StandardScaler().fit(fit_x)
    probe = LogisticRegression(C=c, max_iter=PROBE_MAX_ITER)
    with warnings.catch_warnings():
        # an unconverged probe still gives a held-out score; the tolerance is tighter than
        # the accuracy it decides
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(scaler.transform(fit_x), fit_y)
    return float(probe.score(scaler.transform(held_x), held_y))


def knn(
    fit_x: np.ndarray, fit_y: np.ndarray, held_x: np.ndarray, held_y: np.ndarray, k: int = 10
) -> float:
    """Held-out top-1 of a k-nearest-neighbour vote (Euclidean, on features standardised with
    the fit set's statistics). Ties go to the lowest label, so the score is deterministic."""
    if is_constant(fit_x):  # every image at distance 0: no neighbour is nearer than another
        return majority_top1(fit_y, held_y)
    scaler = StandardScaler().fit(fit_x)
    vote = KNeighborsClassifier(n_neighbors=min(k, len(fit_y)), algorithm="brute")
    vote.fit(scaler.transform(fit_x), fit_y)
    return float(vote.score(scaler.transform(held_x), held_y))


def is_constant(features: np.ndarray) -> bool:
    """Whether no feature varies over the images (a dead layer)."""
    f = np.asarray(features)
    return len(f) == 0 or not np.ptp(f.reshape(len(f), -1), axis=0).any()


def majority_top1(fit_y: np.ndarray, held_y: np.ndarray) -> float:
    """Held-out top-1 of always answering the fit images' most common label (ties: lowest)."""
    fit_y, held_y = np.asarray(fit_y), np.asarray(held_y)
    return float(np.mean(held_y == np.bincount(fit_y).argmax()))


def layer_note(fit_x: np.ndarray) -> str:
    """Why a layer's scores are stated rather than computed, or nan; "" for an ordinary one."""
    if not np.isfinite(fit_x).all():
        return "features not finite (a diverged net?): no estimator can score them"
    if is_constant(fit_x):
        return (
            "a constant layer (no feature varies over the images): H-score 0, probe and k-NN "
            "the majority class, LogME the evidence of the labels from a constant"
        )
    return ""


def null_scores(fit_y: np.ndarray, held_y: np.ndarray) -> dict[str, float]:
    """Each estimator's score of an all-zero layer: no information about the images. LogME's
    is the evidence of the labels alone, mean over classes c of
    1/2 log(m / m_c) - 1/2 log(2 pi) - 1/2 per image (m_c images of class c of m)."""
    fit_y = np.asarray(fit_y)
    counts = np.bincount(fit_y)[np.unique(fit_y)]
    m = len(fit_y)
    evidence = 0.5 * np.log(m / counts) - 0.5 * math.log(2 * math.pi) - 0.5
    majority = majority_top1(fit_y, held_y)
    return {
        "logme": float(evidence.mean()),
        "hscore": 0.0,
        "linear_probe": majority,
        "knn": majority,
    }


ESTIMATORS = ("logme", "hscore", "linear_probe", "knn")
# What each estimator's number is, for tables and axes.
UNITS = {
    "logme": "log evidence per image",
    "hscore": "H-score",
    "linear_probe": "held-out top-1",
    "knn": "held-out top-1",
}


def score_all(
    fit_x: np.ndarray,
    fit_y: np.ndarray,
    held_x: np.ndarray,
    held_y: np.ndarray,
    probe_c: float = 1.0,
    knn_k: int = 10,
) -> dict[str, float]:
    """Every estimator on one set of features: {name: score}.

    BLAS and OpenMP run on one thread here: at these sizes (2000 x 512) their threads cost more
    than they give, and on shared cores they spin: on this 2-core machine under load, the
    linear probe took 0.70 s on one thread against 17 s on two, LogME 32 ms against 1.1 s.
    One thread also makes the probe's result independent of the machine's core count.
    Features that are not finite give nan for every estimator (`layer_note` says why).
    """
    if not (np.isfinite(fit_x).all() and np.isfinite(held_x).all()):
        return dict.fromkeys(ESTIMATORS, math.nan)
    with threadpool_limits(limits=1):
        return {
            "logme": logme(fit_x, fit_y),
            "hscore": hscore(fit_x, fit_y),
            "linear_probe": linear_probe(fit_x, fit_y, held_x, held_y, probe_c),
            "knn": knn(fit_x, fit_y, held_x, held_y, knn_k),
        }
