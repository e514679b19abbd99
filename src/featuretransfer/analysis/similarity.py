"""Linear CKA between two layers' features on the same images, with the debiased HSIC.

CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels K = X X^T, L = Y Y^T
(Kornblith et al. 2019). HSIC is the unbiased estimator of Song et al. (2012, eq. 5), the mean
of a U-statistic over distinct 4-tuples of images; the plain (biased) estimator gives
independent random features a CKA well above 0 when m is not much larger than d, which reads as
similarity that is not there. Unbiased CKA of independent features scatters around 0 and may
come out slightly negative: values are reported as computed, never clipped.

Gram matrices are float64 on the features' device: m = 1000 images give 8 MB each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Gram:
    """A layer's linear Gram matrix on m images, prepared for the debiased HSIC: the diagonal
    set to 0 (`k`), its total sum, its column sums and its own HSIC."""

    k: torch.Tensor
    total: torch.Tensor
    colsum: torch.Tensor
    self_hsic: float


def gram(features: torch.Tensor) -> Gram:
    """The prepared Gram matrix of features [m, d] (any shape [m, ...]: flattened)."""
    x = features.reshape(len(features), -1).to(torch.float64)
    if len(x) < 4:
        raise ValueError(f"the debiased HSIC needs at least 4 images, got {len(x)}")
    # centring changes no unbiased HSIC, but keeps the products' cancellations small
    x = x - x.mean(0)
    k = x @ x.T
    k.fill_diagonal_(0.0)
    total, colsum = k.sum(), k.sum(0)
    return Gram(k, total, colsum, _hsic(k, total, colsum, k, total, colsum))


def hsic(a: Gram, b: Gram) -> float:
    """Song et al.'s unbiased HSIC of two prepared Gram matrices of the same images."""
    if b.k.shape[0] != a.k.shape[0]:
        raise ValueError(
            f"Gram matrices of {a.k.shape[0]} and {b.k.shape[0]} images: use the same images"
        )
    return _hsic(a.k, a.total, a.colsum, b.k, b.total, b.colsum)


def _hsic(k, k_total, k_colsum, k2, k2_total, k2_colsum) -> float:
    """[tr(K L) + 1'K1 1'L1 / ((m-1)(m-2)) - 2/(m-2) 1'K L 1] / (m (m-3)), with K = k and
    L = k2 of zero diagonals, their total sums and column sums."""
    m = k.shape[0]
    trace = (k * k2).sum()  # tr(K L) for symmetric K, L
    cross = k_colsum @ k2_colsum  # 1'K L 1
    value = trace + k_total * k2_total / ((m - 1) * (m - 2)) - 2 / (m - 2) * cross
    return float(value / (m * (m - 3)))


def cka(a: Gram, b: Gram) -> float:
    """Linear CKA of two prepared Gram matrices; nan where a layer has no variance."""
    denominator = a.self_hsic * b.self_hsic
    if not denominator > 0:
        return float("nan")
    return hsic(a, b) / float(np.sqrt(denominator))


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of features x [m, d1] and y [m, d2] of the same m images."""
    return cka(gram(x), gram(y))


def cka_matrix(rows: list[Gram], columns: list[Gram]) -> np.ndarray:
    """CKA of every row layer against every column layer: [len(rows), len(columns)]."""
    return np.array([[cka(a, b) for b in columns] for a in rows])
