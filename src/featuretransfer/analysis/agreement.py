"""How well an estimator's score per cut ranks the cuts as the measured top-1 does.

Spearman's rho and Kendall's tau-b (SciPy) between score and measured top-1 over the cuts of
one base group; over several groups, the mean of the groups' own correlations, with a 95%
percentile bootstrap interval over groups (scipy.stats.bootstrap: the nets of one group share a
base net, so groups, not cuts, are the independent draws). The mean of within-group values, not
one correlation over every (group, cut) point: halves and splits differ in accuracy, and in
the score, by more than cuts do, so a pooled correlation would reward an estimator for telling
the halves apart rather than the cuts. With one group there is no interval, only Kendall's
p-value over its cuts (exact for small n, as SciPy computes it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

NAN = float("nan")
MIN_POINTS = 3  # fewer cuts have no ranking to speak of


@dataclass(frozen=True)
class Point:
    group: str  # the base group's name
    n: int  # the cut
    score: float  # the estimator's score at n
    measured: float  # the measured top-1 at n


def correlations(points: list[Point], exact_p: bool = True) -> tuple[float, float, float]:
    """(Spearman's rho, Kendall's tau, tau's p-value) over `points`; nan where undefined
    (fewer than 3 points, or a constant score or measurement). Without `exact_p` the p-value
    is the asymptotic one: the bootstrap needs only the statistics, and SciPy's exact p for
    small n was most of its time (7 of 52 s of the default study's estimate)."""
    score = np.array([p.score for p in points])
    measured = np.array([p.measured for p in points])
    if len(points) < MIN_POINTS or np.ptp(score) == 0 or np.ptp(measured) == 0:
        return NAN, NAN, NAN
    tau = stats.kendalltau(score, measured, method="auto" if exact_p else "asymptotic")
    rho = stats.spearmanr(score, measured).statistic
    return float(rho), float(tau.statistic), float(tau.pvalue)


def agreement(points: list[Point], n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Rank correlations of the finite points (one group: over its cuts; several: the mean of
    the groups' own, with bootstrap intervals over groups): n_groups, n_points, spearman,
    spearman_low, spearman_high, kendall, kendall_low, kendall_high, kendall_p (one group
    only; exact for small n, as SciPy decides)."""
    points = [p for p in points if math.isfinite(p.score) and math.isfinite(p.measured)]
    groups = sorted({p.group for p in points})
    row = {"n_groups": len(groups), "n_points": len(points)}
    row |= {"spearman_low": NAN, "spearman_high": NAN, "kendall_low": NAN, "kendall_high": NAN}
    if len(groups) < 2:
        rho, tau, tau_p = correlations(points)
        return row | {"spearman": rho, "kendall": tau, "kendall_p": tau_p}
    per_group = [correlations([p for p in points if p.group == g], exact_p=False) for g in groups]
    values = np.array([(rho, tau) for rho, tau, _ in per_group if math.isfinite(rho)])
    row["kendall_p"] = NAN  # n_groups stays the groups with points; a nan one adds no value
    if not len(values):
        return row | {"spearman": NAN, "kendall": NAN}
    row["spearman"], row["kendall"] = (float(v) for v in values.mean(axis=0))
    if len(values) < 2 or np.ptp(values, axis=0).max() == 0:
        return row | {
            k: row[k.rsplit("_", 1)[0]]
            for k in ("spearman_low", "spearman_high", "kendall_low", "kendall_high")
        }
    result = stats.bootstrap(
        (values,),
        lambda v, axis: v.mean(axis=axis),
        n_resamples=n_bootstrap,
        axis=0,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    row["spearman_low"], row["kendall_low"] = float(low[0]), float(low[1])
    row["spearman_high"], row["kendall_high"] = float(high[0]), float(high[1])
    return row
