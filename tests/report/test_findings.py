"""Tests of findings.py and evidence.py: each rule on hand-built records whose answer is known,
with a case where it must say "holds" and one where it must not.

A study here has one random split towards B; base group g is seed g, with its own base net (whose
top-1 varies by group: its seed noise must be in every interval). `study(...)` takes, per label
and cut, the per-group differences from the group's base net in points. Expected intervals are
computed here from scipy directly (90% t-intervals over groups: alpha = 0.05 one-sided).
"""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest
from scipy import stats

from featuretransfer.report.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_MEASURED,
    estimate,
    holm,
)
from featuretransfer.report.findings import findings, findings_markdown
from featuretransfer.specs import ReportSpec

RULES = ReportSpec()  # margin 1 point, noise 1 point, alpha 0.05
BASES = (0.800, 0.812, 0.795, 0.806, 0.801, 0.809)  # group g's base net: seed noise ~0.6 point
LABELS = {
    ("selffer", False): "BnB",
    ("selffer", True): "BnB+",
    ("transfer", False): "AnB",
    ("transfer", True): "AnB+",
    ("random", False): "random weights",
}
TREATMENT = {label: key for key, label in LABELS.items()}


def net(treatment, n, top1, fine_tuned=False, seed=0, split="s0", kind="random", target="B"):
    """One record as results.load_results gives it."""
    source = {"transfer": "A", "random": ""}.get(treatment, target)
    label = "baseB" if treatment == "base" else LABELS[treatment, fine_tuned]
    return {
        "split": split,
        "split_kind": kind,
        "source": source,
        "target": target,
        "treatment": treatment,
        "n": n,
        "fine_tuned": fine_tuned,
        "seed": seed,
        "n_layers": 8,
        "status": "done",
        "top1": top1,
        "n_train_per_class": 0,
        "train_top1": float("nan"),
        "label": label,
    }


def study(n_groups: int, kind: str = "random", split: str = "s0", **curves) -> list[dict]:
    """Base nets of n_groups groups, and for each curve (label: {n: [diff per group]}) one net
    per group and cut at its group's base + diff points. Labels: AnB, BnB, BnB_plus, AnB_plus,
    random_weights."""
    records = [net("base", 0, BASES[g], seed=g, split=split, kind=kind) for g in range(n_groups)]
    for name, by_n in curves.items():
        label = name.replace("_plus", "+").replace("_", " ")
        treatment, fine_tuned = TREATMENT[label]
        for n, diffs in by_n.items():
            assert len(diffs) == n_groups
            records += [
                net(treatment, n, BASES[g] + d / 100, fine_tuned, g, split, kind)
                for g, d in enumerate(diffs)
            ]
    return records


def finding(records, number: int, rules: ReportSpec = RULES) -> dict:
    (found,) = [f for f in findings(records, rules) if f["number"] == number]
    return found


def interval90(values: list[float]) -> tuple[float, float]:
    """Independent of evidence.py: the 90% t-interval of the mean."""
    mean = statistics.fmean(values)
    half = stats.t.ppf(0.95, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean - half, mean + half


# ---- evidence.py ------------------------------------------------------------------------------


def test_estimate_is_the_t_interval_over_groups_or_the_stated_noise():
    values = [-3.5, -4.0, -3.2]
    got = estimate(values, RULES)
    low, high = interval90(values)
    assert got.measured and got.n_groups == 3
    assert got.low == pytest.approx(low) and got.high == pytest.approx(high)
    assert got.p_above == pytest.approx(stats.ttest_1samp(values, 0, alternative="greater").pvalue)
    alone = estimate([-0.4], RULES)
    assert not alone.measured and (alone.low, alone.high) == pytest.approx((-1.4, 0.6))


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, 0.5]
    # sorted: 0.01 x4 = 0.04, 0.03 x3 = 0.09, 0.04 x2 = 0.08 -> max so far 0.09, 0.5 x1 = 0.5
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])


# ---- 1: AnB = baseB at n = 1-2 (equivalence) --------------------------------------------------


def test_1_holds_by_equivalence():
    got = finding(study(4, AnB={1: [-0.2, 0.1, 0.0, 0.1], 2: [0.1, -0.3, 0.0, -0.1]}), 1)
    assert got["verdict"] == HOLDS
    low, high = interval90([-0.2, 0.1, 0.0, 0.1])
    assert f"[{low:+.2f}, {high:+.2f}] points (4 groups)" in got["text"]
    assert "within +- 1 point" in got["rule"]


def test_1_a_clear_drop_does_not_hold():
    # the case: AnB 3.5-4 points below baseB in two groups
    got = finding(study(2, AnB={1: [-3.5, -4.0], 2: [-3.6, -3.9]}), 1)
    assert got["verdict"] == FAILS


def test_1_no_significant_difference_is_not_equality():
    # neither group shows a difference beyond its noise, but the interval is wide
    got = finding(study(2, AnB={1: [0.8, -1.2], 2: [0.5, -0.9]}), 1)
    assert got["verdict"] == INCONCLUSIVE


def test_1_with_one_group_rests_on_the_stated_noise():
    assert finding(study(1, AnB={1: [-0.1], 2: [0.2]}), 1)["verdict"] == INCONCLUSIVE
    got = finding(study(1, AnB={1: [-3.0], 2: [-2.5]}), 1)
    assert got["verdict"] == FAILS and "no interval measured" in got["text"]
    wide = ReportSpec(margin=2.0, noise=0.5)  # a stated margin and noise that allow a verdict
    assert finding(study(1, AnB={1: [-0.1], 2: [0.2]}), 1, wide)["verdict"] == HOLDS


# ---- 2: the dip (middle minimum, Holm) --------------------------------------------------------

FLAT = [0.0, 0.1, -0.1, 0.05]


def dip_curve(middle: dict[int, list[float]], top=FLAT) -> dict:
    curve = {1: FLAT, 2: FLAT, 7: top}
    for n in (3, 4, 5, 6):
        curve[n] = middle.get(n, FLAT)
    return curve


def test_2_a_dip_in_the_middle_holds():
    drop = [-3.0, -2.6, -3.4, -2.9]
    got = finding(study(4, BnB=dip_curve({4: drop, 5: drop})), 2)
    assert got["verdict"] == HOLDS and "A dip at 4-5" in got["text"]


def test_2_a_steady_fall_to_the_top_is_no_dip():
    fall = {n: [-0.8 * (n - 1) + d for d in (0.0, 0.1, -0.1, 0.05)] for n in range(1, 8)}
    got = finding(study(4, BnB=fall), 2)
    assert got["verdict"] == FAILS and "no recovery" in got["text"]


def test_2_a_flat_bnb_is_no_dip():
    got = finding(study(4, BnB=dip_curve({})), 2)
    assert got["verdict"] == FAILS and "within the margin" in got["text"]


def test_2_one_cut_significant_alone_is_not_a_dip_after_holm():
    marginal = [-1.0, -1.5, -0.6]  # one-sided p ~ 0.03 on each of the three contrasts
    flat3 = [0.1, -0.1, 0.05]
    curve = {n: flat3 for n in (1, 2, 3, 5, 6, 7)} | {4: marginal}
    got = finding(study(3, BnB=curve), 2)
    p = stats.ttest_1samp([-d for d in marginal], 0, alternative="greater").pvalue
    assert 0.0125 < p < 0.05  # significant alone, not once multiplied by the 4 middle cuts
    assert got["verdict"] == INCONCLUSIVE


def test_2_needs_the_top_cut():
    got = finding(study(4, BnB={1: FLAT, 4: FLAT}), 2)
    assert got["verdict"] == NOT_MEASURED and "top cut" in got["text"]


# ---- 3: BnB+ = baseB --------------------------------------------------------------------------


def test_3_holds_and_a_cut_beyond_the_margin_refutes_it():
    small = {n: [0.1, -0.2, 0.0, 0.1] for n in (1, 3, 5, 7)}
    assert finding(study(4, BnB_plus=small), 3)["verdict"] == HOLDS
    low = small | {5: [-3.0, -2.8, -3.3, -3.1]}
    assert finding(study(4, BnB_plus=low), 3)["verdict"] == FAILS


# ---- 4: AnB falls as n grows ------------------------------------------------------------------


def test_4_holds_for_a_fall_and_not_for_a_flat_top():
    fall = {1: [0.1, -0.2, 0.0, 0.1], 7: [-9.0, -11.0, -10.2, -9.7]}
    got = finding(study(4, AnB=fall), 4)
    assert got["verdict"] == HOLDS and "the top cut n = 7" in got["text"]
    flat = {1: [0.1, -0.2, 0.0, 0.1], 7: [0.0, 0.2, -0.1, 0.1]}
    assert finding(study(4, AnB=flat), 4)["verdict"] == FAILS


# ---- 5: the boost -----------------------------------------------------------------------------


def test_5_holds_for_a_boost_and_not_below_baseB():
    up = {n: [1.8, 2.2, 1.6, 2.0] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=up), 5)["verdict"] == HOLDS
    down = {n: [-1.8, -2.2, -1.6, -2.0] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=down), 5)["verdict"] == FAILS
    noisy = {n: [1.5, -1.0, 0.4, -0.6] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=noisy), 5)["verdict"] == INCONCLUSIVE


def test_5_says_when_bnb_plus_does_as_well():
    up = {n: [1.8, 2.2, 1.6, 2.0] for n in (1, 4, 7)}
    got = finding(study(4, AnB_plus=up, BnB_plus=up), 5)
    assert got["verdict"] == HOLDS and "longer training may explain the boost" in got["text"]


# ---- 6: dissimilar split and random weights ---------------------------------------------------


def test_6_holds_and_random_weights_above_transfer_refute_it():
    random_split = study(4, AnB={7: [-8.0, -9.0, -7.5, -8.4]}, random_weights={7: [-30.0] * 4})
    semantic = study(3, kind="semantic", split="man-made", AnB={7: [-25.0, -24.0, -26.5]})
    assert finding(random_split + semantic, 6)["verdict"] == HOLDS
    better = study(
        4, AnB={7: [-8.0, -9.0, -7.5, -8.4]}, random_weights={7: [-2.0, -1.5, -2.2, -1.8]}
    )
    assert finding(better + semantic, 6)["verdict"] == FAILS


def test_6_not_measured_without_a_semantic_split():
    got = finding(study(4, AnB={7: [-8.0, -9.0, -7.5, -8.4]}), 6)
    assert got["verdict"] == NOT_MEASURED and "semantic" in got["text"]


# ---- the page ---------------------------------------------------------------------------------


def test_empty_study_measures_nothing():
    found = findings([])
    assert [f["number"] for f in found] == [1, 2, 3, 4, 5, 6]
    assert {f["verdict"] for f in found} == {NOT_MEASURED}
    assert all(f["text"] and f["claim"] and f["rule"] for f in found)
    text = findings_markdown(found)
    assert text.startswith("# Findings") and text.count("*not measured*") == 6
    assert "Rule:" in text and "inconclusive" in text.lower()


def test_a_study_of_semantic_splits_only_says_where_random_ones_are_needed():
    got = finding(study(3, kind="semantic", AnB={1: [0.0, 0.1, -0.1]}), 1)
    assert got["verdict"] == NOT_MEASURED and 'kind = "random"' in got["text"]


def test_findings_never_import_torch():
    code = "import sys, featuretransfer.report.findings; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_worked_example_of_docs_statistics():
    base, anb1 = [90.2, 91.1, 89.8, 90.6], [90.0, 91.3, 89.5, 90.5]
    got = estimate([a - b for a, b in zip(anb1, base)], RULES)
    assert (round(got.mean, 2), round(got.low, 2), round(got.high, 2)) == (-0.10, -0.35, 0.15)
    assert got.within(RULES.margin)
    alone = estimate([anb1[0] - base[0]], RULES)
    assert not alone.within(1.0) and not alone.outside(1.0) and alone.within(2.0)
