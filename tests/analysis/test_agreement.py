"""Rank agreement against counts done by hand, and the bootstrap over groups."""

import itertools
import math

import numpy as np
import pytest

from featuretransfer.analysis.agreement import Point, agreement, correlations


def points(group: str, scores, measured) -> list[Point]:
    return [Point(group, n, s, m) for n, (s, m) in enumerate(zip(scores, measured), 1)]


def by_hand(scores, measured) -> tuple[float, float]:
    """Spearman as the Pearson correlation of ranks, Kendall's tau as (concordant - discordant)
    pairs / all pairs (no ties in these data)."""
    ranks = [np.argsort(np.argsort(v)) for v in (scores, measured)]
    rho = np.corrcoef(*ranks)[0, 1]
    signs = [
        np.sign(scores[i] - scores[j]) * np.sign(measured[i] - measured[j])
        for i, j in itertools.combinations(range(len(scores)), 2)
    ]
    return float(rho), float(np.mean(signs))


def test_correlations_equal_the_counts_by_hand():
    rng = np.random.default_rng(0)
    scores, measured = rng.normal(size=9), rng.normal(size=9)
    rho, tau, p = correlations(points("g", scores, measured))
    assert (rho, tau) == pytest.approx(by_hand(scores, measured), abs=1e-12)
    assert 0 < p <= 1


def test_same_and_reversed_order_and_undefined_cases():
    up = points("g", [1, 2, 3, 4], [0.1, 0.5, 0.6, 0.9])
    down = points("g", [4, 3, 2, 1], [0.1, 0.5, 0.6, 0.9])
    assert correlations(up)[:2] == (1.0, 1.0)
    assert correlations(down)[:2] == (-1.0, -1.0)
    assert all(math.isnan(v) for v in correlations(up[:2]))  # two cuts: no ranking
    flat = points("g", [1, 2, 3], [0.5, 0.5, 0.5])  # a measurement that does not vary
    assert all(math.isnan(v) for v in correlations(flat))


def test_one_group_has_no_interval_and_nan_points_are_left_out():
    row = agreement(points("g", [1, 2, 3, float("nan")], [0.1, 0.2, 0.3, 0.4]))
    assert row["n_groups"] == 1 and row["n_points"] == 3 and row["spearman"] == 1.0
    assert math.isnan(row["spearman_low"]) and math.isnan(row["kendall_high"])


def test_bootstrap_over_groups_brackets_the_pooled_value_and_is_seeded():
    rng = np.random.default_rng(1)
    pts = []
    for g in range(4):
        measured = 0.9 - 0.03 * np.arange(7) + rng.normal(size=7) * 0.01
        pts += points(f"g{g}", measured + rng.normal(size=7) * 0.02 * (g + 1), measured)
    row = agreement(pts, n_bootstrap=300, seed=0)
    assert row["n_groups"] == 4 and row["n_points"] == 28
    for name in ("spearman", "kendall"):
        assert -1 <= row[f"{name}_low"] <= row[name] <= row[f"{name}_high"] <= 1
        assert row[f"{name}_low"] < row[f"{name}_high"]
    assert agreement(pts, n_bootstrap=300, seed=0) == row
    # a group that ranks the cuts backwards widens the interval
    worse = pts + points("bad", [p.score for p in pts[:7]][::-1], [p.measured for p in pts[:7]])
    wide = agreement(worse, n_bootstrap=300, seed=0)
    assert wide["spearman_low"] < row["spearman_low"]


def test_pooled_is_the_mean_of_within_group_rankings_not_the_groups_levels():
    # within each group the score ranks the cuts backwards; the easier group scores higher
    # overall. One correlation over all points would read that level as agreement (+0.6 here);
    # the cuts' ranking, which the estimate is for, disagrees in every group.
    easy = points("easy", [10, 11, 12], [0.95, 0.94, 0.93])
    hard = points("hard", [1, 2, 3], [0.75, 0.74, 0.73])
    everything = correlations(easy + hard)
    assert everything[0] > 0.5
    row = agreement(easy + hard, n_bootstrap=200)
    assert row["spearman"] == -1.0 and row["kendall"] == -1.0 and row["n_groups"] == 2
