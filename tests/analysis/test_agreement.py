"""Rank agreement against counts done by hand; intervals over independent units (the split, else
the seed) against t-intervals computed by hand; paired differences, resolved ranks and the
seed-to-seed ceiling."""

import itertools
import math

import numpy as np
import pytest

from featuretransfer.analysis.agreement import (
    Point,
    agreement,
    choose_units,
    correlations,
    group_correlations,
    paired_difference,
    ranks,
    seed_agreement,
    t_interval,
)

T_975 = {1: 12.706204736174705, 2: 4.302652729911275, 3: 3.182446305284263}  # t tables


def points(group: str, scores, measured) -> list[Point]:
    return [Point(group, n, s, m) for n, (s, m) in enumerate(zip(scores, measured), 1)]


def by_hand(scores, measured) -> tuple[float, float]:
    """Spearman as the Pearson correlation of ranks, Kendall's tau as (concordant - discordant)
    pairs / all pairs (no ties in these data)."""
    ranked = [np.argsort(np.argsort(v)) for v in (scores, measured)]
    rho = np.corrcoef(*ranked)[0, 1]
    signs = [
        np.sign(scores[i] - scores[j]) * np.sign(measured[i] - measured[j])
        for i, j in itertools.combinations(range(len(scores)), 2)
    ]
    return float(rho), float(np.mean(signs))


def hand_interval(values) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    half = T_975[len(v) - 1] * v.std(ddof=1) / math.sqrt(len(v))
    return v.mean(), v.mean() - half, v.mean() + half


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


def test_t_interval_equals_the_formula_by_hand():
    values = [0.3, 0.7, 0.55, 0.9]
    assert t_interval(values) == pytest.approx(hand_interval(values), abs=1e-12)
    assert t_interval([0.4])[0] == 0.4 and math.isnan(t_interval([0.4])[1])  # one unit
    assert t_interval([0.9, 0.99, 0.5], bound=1.0)[2] == 1.0  # a correlation stays in [-1, 1]


def test_units_are_splits_and_the_seed_only_in_a_one_split_study():
    groups = {f"{s}:{h}#{d}": (s, d) for s in ("s0", "s1") for h in "AB" for d in (0, 1)}
    units, kind = choose_units(groups)
    assert kind == "split" and set(units.values()) == {"s0", "s1"}
    one = {g: v for g, v in groups.items() if v[0] == "s0"}
    units, kind = choose_units(one)
    assert kind == "seed" and set(units.values()) == {"s0#0", "s0#1"}


def split_study(effects: dict[str, float]) -> tuple[dict, dict]:
    """Per-group rhos set by the split alone: 2 seeds x 2 targets per split, each the split's
    value (a hand-made table in the spirit of issue 21's +1.5 / +0.3 / +0.9)."""
    rho, groups = {}, {}
    for split, value in effects.items():
        for target, seed in itertools.product("AB", (0, 1)):
            name = f"{split}:{target}#{seed}"
            rho[name], groups[name] = value, (split, seed)
    return rho, groups


def test_the_interval_runs_over_splits_not_over_the_groups_inside_them():
    rho, groups = split_study({"s0": 0.9, "s1": 0.3, "s2": 0.6})
    units, kind = choose_units(groups)
    row = agreement({g: (v, v, 0.5) for g, v in rho.items()}, units)
    assert kind == "split" and row["n_units"] == 3 and row["n_groups"] == 12
    mean, low, high = hand_interval([0.9, 0.3, 0.6])
    assert (row["spearman"], row["spearman_low"], row["spearman_high"]) == pytest.approx(
        (mean, max(low, -1), min(high, 1))
    )
    # the 12 groups counted as independent would give a far narrower interval
    twelve = np.array(list(rho.values()))
    naive_half = 2.200985160082949 * twelve.std(ddof=1) / math.sqrt(12)  # t(0.975, 11)
    assert naive_half < (high - low) / 4


def test_paired_difference_is_the_interval_of_unit_differences():
    a, groups = split_study({"s0": 0.8, "s1": 0.5, "s2": 0.7, "s3": 0.6})
    b = {
        g: v - {"s0": 0.1, "s1": 0.2, "s2": 0.15, "s3": 0.05}[g.split(":")[0]] for g, v in a.items()
    }
    b["s3:A#0"] = float("nan")  # an undefined group leaves the pair out, not its unit
    units, _ = choose_units(groups)
    mean, low, high, n = paired_difference(a, b, units)
    assert n == 4
    assert (mean, low, high) == pytest.approx(hand_interval([0.1, 0.2, 0.15, 0.05]))
    assert low > 0  # the same units for both: a consistent gain is resolved


def test_ranks_only_where_the_paired_intervals_resolve_them():
    names = ["a", "b", "c"]
    diff = {
        ("a", "b"): (0.3, 0.1, 0.5),  # a above b
        ("a", "c"): (0.4, 0.2, 0.6),  # a above c
        ("b", "c"): (0.05, -0.1, 0.2),  # b, c not resolved
    }
    diff |= {(y, x): (-m, -h, -lo) for (x, y), (m, lo, h) in list(diff.items())}
    assert ranks(names, diff) == {"a": (1, 1), "b": (2, 3), "c": (2, 3)}
    unresolved = {k: (0.0, -1.0, 1.0) for k in diff}
    assert ranks(names, unresolved) == {"a": (1, 3), "b": (1, 3), "c": (1, 3)}


def test_null_differences_of_three_units_are_resolved_about_5_percent_of_the_time():
    """The reason for a t-interval over units: with 3 units a percentile bootstrap resolves a
    null difference whenever all three have one sign (1 in 4); the t-interval about 1 in 20."""
    rng = np.random.default_rng(0)
    studies = rng.normal(size=(4000, 3))
    resolved = [t_interval(v)[1] > 0 or t_interval(v)[2] < 0 for v in studies]
    assert 0.03 < np.mean(resolved) < 0.07
    draws = rng.integers(0, 3, size=(1000, 3))
    boot = [np.percentile(v[draws].mean(1), [2.5, 97.5]) for v in studies[:800]]
    assert np.mean([lo > 0 or hi < 0 for lo, hi in boot]) > 0.15


def test_group_correlations_use_exact_p_for_one_group_only():
    one = group_correlations(points("g", [1, 2, 3, 4, 6], [0.1, 0.3, 0.2, 0.5, 0.6]))
    assert list(one) == ["g"] and 0 < one["g"][2] < 1
    two = group_correlations(
        points("g", [1, 2, 3], [0.1, 0.2, 0.3]) + points("h", [3, 2, 1], [0.1, 0.2, 0.3])
    )
    assert two["g"][0] == 1.0 and two["h"][0] == -1.0


def test_the_ceiling_is_the_seed_to_seed_agreement_of_the_measured_curve():
    rng = np.random.default_rng(3)
    measured, replicates, groups = {}, {}, {}
    for split in ("s0", "s1"):
        curve = 0.9 - 0.02 * np.arange(1, 8)
        for seed in (0, 1):
            name = f"{split}:A->B#{seed}"
            noisy = curve + rng.normal(size=7) * 0.015
            measured[name] = {n: float(v) for n, v in enumerate(noisy, 1)}
            replicates[name], groups[name] = (split, "A", "B"), (split, seed)
    units, kind = choose_units(groups)
    row = seed_agreement(measured, replicates, units, kind)
    expected = []
    for split in ("s0", "s1"):
        a, b = (list(measured[f"{split}:A->B#{s}"].values()) for s in (0, 1))
        expected.append(by_hand(a, b)[0])
    assert row["n_pairs"] == 2 and row["n_units"] == 2
    assert row["spearman"] == pytest.approx(np.mean(expected))
    alone = {g: v for g, v in measured.items() if g.endswith("#0")}
    none = seed_agreement(alone, replicates, units, kind)
    assert math.isnan(none["spearman"]) and none["note"] == "not measured: one seed per group"
    one_split = {g: v for g, v in measured.items() if g.startswith("s0")}
    units, kind = choose_units({g: groups[g] for g in one_split})
    row = seed_agreement(one_split, replicates, units, kind)
    assert row["spearman"] == pytest.approx(expected[0]) and math.isnan(row["spearman_low"])
