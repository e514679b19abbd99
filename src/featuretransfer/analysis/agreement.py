"""How well a score per cut ranks the cuts as the measured top-1 does, against what needs no
estimator at all.

Per base group: Spearman's rho and Kendall's tau-b (SciPy) between score and measured top-1
over the group's measured cuts. Over several groups, the mean of the groups' own correlations,
never one correlation over every (group, cut) point: halves and splits differ in accuracy, and
in the score, by more than cuts do, so a pooled correlation would reward an estimator for
telling the halves apart rather than the cuts.

Intervals run over independent units. The nets of one random split share its partition and
its test images, and a split's A-target and B-target groups share both base nets (baseA is the
source of one and the control of the other), so groups are not independent: the unit is the
split. The groups of one split (both targets, every seed) are averaged first, then the
interval is the 95% t-interval over splits. A study with a single split (a pretrained-source
study has one) has the seed as its unit, and its claims are about that split only. The
t-interval, not a percentile bootstrap: with 3 units the bootstrap's 2.5% quantile is the
smallest unit's value, so a null difference that happens to be positive in all three units,
one time in four, would be "resolved"; the t-interval's width (t = 4.30 at 2 degrees of
freedom) keeps that near 5%. One unit gives no interval (with one group, Kendall's exact p over
its cuts is given instead).

Beside the estimators: the depth prior (score = -n, "deeper cuts transfer worse"), which
needs no features, and each estimator's paired difference to it (per group, the estimator's
rho minus the prior's, averaged per unit, t-interval over units); the seed-to-seed agreement
of the measured curve itself (the ceiling: the rank correlation of seed i's measured curve
with seed j's, for every pair of seeds of the same split, source and target, mean over pairs);
and ranks of the estimators only where the paired differences resolve them (`ranks`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

NAN = float("nan")
MIN_POINTS = 3  # fewer cuts have no ranking to speak of
LEVEL = 0.95  # of every interval here
DEPTH_PRIOR = "depth_prior"  # the score -n, as an estimator's name
CEILING = "seed_to_seed"  # the measured curve against itself under another seed


@dataclass(frozen=True)
class Point:
    group: str  # the base group's name
    n: int  # the cut
    score: float  # the estimator's score at n
    measured: float  # the measured top-1 at n


def correlations(points: list[Point], exact_p: bool = True) -> tuple[float, float, float]:
    """(Spearman's rho, Kendall's tau, tau's p-value) over `points`; nan where undefined
    (fewer than 3 points, or a constant score or measurement). Without `exact_p` the p-value
    is the asymptotic one (SciPy's exact p for small n is slow, and only one group needs it)."""
    score = np.array([p.score for p in points])
    measured = np.array([p.measured for p in points])
    if len(points) < MIN_POINTS or np.ptp(score) == 0 or np.ptp(measured) == 0:
        return NAN, NAN, NAN
    tau = stats.kendalltau(score, measured, method="auto" if exact_p else "asymptotic")
    rho = stats.spearmanr(score, measured).statistic
    return float(rho), float(tau.statistic), float(tau.pvalue)


def t_interval(values, bound: float = math.inf) -> tuple[float, float, float]:
    """(mean, low, high) of the finite values: the LEVEL t-interval of their mean, clipped to
    [-bound, bound]; low and high nan for fewer than 2 values."""
    v = np.array([x for x in values if math.isfinite(x)], dtype=np.float64)
    if not len(v):
        return NAN, NAN, NAN
    mean = float(v.mean())
    if len(v) < 2:
        return mean, NAN, NAN
    half = float(stats.t.ppf((1 + LEVEL) / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, max(mean - half, -bound), min(mean + half, bound)


def unit_means(values: dict[str, float], units: dict[str, str]) -> list[float]:
    """Per unit, the mean of its groups' finite values (units without one are left out)."""
    by_unit = defaultdict(list)
    for group, value in values.items():
        if math.isfinite(value):
            by_unit[units[group]].append(value)
    return [float(np.mean(v)) for _, v in sorted(by_unit.items())]


def choose_units(groups: dict[str, tuple[str, int]]) -> tuple[dict[str, str], str]:
    """({group: unit}, "split" or "seed") for groups named with their (split, seed): the
    split where there are two or more, else the seed."""
    splits = {split for split, _ in groups.values()}
    if len(splits) >= 2:
        return {g: split for g, (split, _) in groups.items()}, "split"
    return {g: f"{split}#{seed}" for g, (split, seed) in groups.items()}, "seed"


def group_correlations(points: list[Point]) -> dict[str, tuple[float, float, float]]:
    """Each group's (rho, tau, p) over its finite points; p exact only for a lone group."""
    points = [p for p in points if math.isfinite(p.score) and math.isfinite(p.measured)]
    names = sorted({p.group for p in points})
    return {
        g: correlations([p for p in points if p.group == g], exact_p=len(names) == 1) for g in names
    }


def agreement(per_group: dict[str, tuple[float, float, float]], units: dict[str, str]) -> dict:
    """Mean rank correlations over groups, with t-intervals over units (module docstring):
    n_groups, n_units, spearman, spearman_low, spearman_high, kendall, kendall_low,
    kendall_high, kendall_p (one group only)."""
    rho = {g: v[0] for g, v in per_group.items()}
    tau = {g: v[1] for g, v in per_group.items()}
    rho_units, tau_units = unit_means(rho, units), unit_means(tau, units)
    defined = [g for g, v in rho.items() if math.isfinite(v)]
    row = {"n_groups": len(defined), "n_units": len(rho_units)}
    row["spearman"], row["spearman_low"], row["spearman_high"] = t_interval(rho_units, 1.0)
    row["kendall"], row["kendall_low"], row["kendall_high"] = t_interval(tau_units, 1.0)
    row["kendall_p"] = per_group[defined[0]][2] if len(defined) == 1 else NAN
    return row


def paired_difference(
    a: dict[str, float], b: dict[str, float], units: dict[str, str]
) -> tuple[float, float, float, int]:
    """(mean, low, high, units) of a - b: per group where both are defined, averaged per unit,
    t-interval over units."""
    diff = {g: a[g] - b[g] for g in a if g in b and math.isfinite(a[g]) and math.isfinite(b[g])}
    values = unit_means(diff, units)
    return (*t_interval(values, 2.0), len(values))


def resolved(low: float, high: float) -> int:
    """+1 where an interval lies above 0, -1 below, 0 where it holds 0 or is not measured."""
    if math.isfinite(low) and low > 0:
        return 1
    if math.isfinite(high) and high < 0:
        return -1
    return 0


def ranks(names: list[str], differences: dict[tuple[str, str], tuple]) -> dict[str, tuple]:
    """{name: (best rank, worst rank)} of the names whose order the paired differences
    `differences[(a, b)] = (mean, low, high, ...)` of a - b resolve: a name is better than
    another only where their interval excludes 0. A name has one rank where the two agree."""
    better = {name: 0 for name in names}
    worse = {name: 0 for name in names}
    for a, b in combinations(names, 2):
        _, low, high, *_ = differences[(a, b)]
        sign = resolved(low, high)
        if sign > 0:
            better[b] += 1
            worse[a] += 1
        elif sign < 0:
            better[a] += 1
            worse[b] += 1
    return {name: (1 + better[name], len(names) - worse[name]) for name in names}


def seed_agreement(
    measured: dict[str, dict[int, float]],
    replicates: dict[str, tuple],
    units: dict[str, str],
    unit_kind: str,
) -> dict:
    """The ceiling: for every pair of groups that differ only in seed (the same
    `replicates[group]` key), Spearman's rho of their measured top-1 over the cuts both have
    (3 or more, not constant); mean over pairs, per split, then the t-interval over splits (no
    interval where the unit is the seed: pairs of seeds are not independent of each other).
    Returns n_pairs, n_units, spearman, spearman_low, spearman_high, note."""
    by_key = defaultdict(list)
    for group, key in replicates.items():
        if group in measured:
            by_key[key].append(group)
    pairs = defaultdict(list)
    for members in by_key.values():
        for g, h in combinations(sorted(members), 2):
            cuts = sorted(set(measured[g]) & set(measured[h]))
            points = [Point(g, n, measured[g][n], measured[h][n]) for n in cuts]
            rho = correlations(points, exact_p=False)[0]
            if math.isfinite(rho):
                pairs[units[g] if unit_kind == "split" else "all"].append(rho)
    row = {"n_pairs": sum(map(len, pairs.values())), "n_units": len(pairs)}
    if not pairs:
        several = any(len(m) > 1 for m in by_key.values())
        note = (
            "not measured: the seeds share fewer than 3 measured cuts that vary"
            if several
            else "not measured: one seed per group"
        )
        return row | {"spearman": NAN, "spearman_low": NAN, "spearman_high": NAN, "note": note}
    values = [float(np.mean(v)) for _, v in sorted(pairs.items())]
    mean, low, high = t_interval(values, 1.0)
    if unit_kind != "split":
        row["n_units"] = 1
        mean = float(np.mean([r for v in pairs.values() for r in v]))
        low = high = NAN
    note = "" if math.isfinite(low) else "one split: no interval"
    return row | {"spearman": mean, "spearman_low": low, "spearman_high": high, "note": note}
