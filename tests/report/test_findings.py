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
    NOT_JUDGED,
    NOT_MEASURED,
    Diff,
    Noise,
    estimate,
    holm,
)
from featuretransfer.report.findings import convergence_text, findings, findings_markdown
from featuretransfer.report.groups import seed_noise
from featuretransfer.report.tables import decomposition
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


def net(
    treatment, n, top1, fine_tuned=False, seed=0, split="s0", kind="random", target="B", **more
):
    """One record as results.load_results gives it."""
    source = {"transfer": "A", "random": ""}.get(treatment, target)
    label = "baseB" if treatment == "base" else LABELS[treatment, fine_tuned]
    return {
        "split": split,
        "split_kind": kind,
        "source": source,
        "target": target,
        "treatment": treatment,
        "n_copied": n,
        "fine_tune": fine_tuned,
        "seed": seed,
        "n_layers": 8,
        "status": "done",
        "top1": top1,
        "n_train_per_class": 0,
        "train_top1": float("nan"),
        "label": label,
        "role": "main",
        "n_classes": None,
        "n_test": None,
    } | more


def study(n_groups: int, kind: str = "random", split: str = "s0", **curves) -> list[dict]:
    """Base nets of n_groups groups (seeds of one split: the seeds are the units), and for each
    curve (label: {n: [diff per group]}) one net per group and cut at its group's base + diff
    points. Labels: AnB, BnB, BnB_plus, AnB_plus, random_weights."""
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


def splits_study(effects: list[float], seeds=(0, 1), targets=("A", "B"), **curves) -> list[dict]:
    """One random split per effect, each with `seeds` x `targets` groups whose nets lie the
    split's effect (points, plus a small seed wobble) from their group's base net, for each
    curve label in `curves` ({label: [cuts]})."""
    records = []
    for s, effect in enumerate(effects):
        for seed in seeds:
            for target in targets:
                base = 0.80 + 0.004 * seed + 0.01 * s + (0.003 if target == "A" else 0)
                where = {"seed": seed, "split": f"s{s}", "target": target}
                records.append(net("base", 0, base, **where))
                for name, cuts in curves.items():
                    treatment, fine_tuned = TREATMENT[name.replace("_plus", "+")]
                    wobble = 0.05 * ((seed + len(target)) % 2) - 0.025
                    records += [
                        net(treatment, n, base + (effect + wobble) / 100, fine_tuned, **where)
                        for n in cuts
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


def diffs(values: list[float]) -> dict:
    """Per-group values of one split (groups are its seeds: the seeds are the units)."""
    return {("s0", g, "B"): Diff(v) for g, v in enumerate(values)}


def test_estimate_is_the_t_interval_over_units_or_the_noise_of_a_difference():
    values = [-3.5, -4.0, -3.2]
    got = estimate(diffs(values), RULES)
    low, high = interval90(values)
    assert got.measured and got.n_units == 3 and got.unit == "seed"
    assert got.low == pytest.approx(low) and got.high == pytest.approx(high)
    assert got.p_above == pytest.approx(stats.ttest_1samp(values, 0, alternative="greater").pvalue)
    alone = estimate(diffs([-0.4]), RULES)  # one net minus another: sqrt(2) x one net's noise
    half = stats.norm.ppf(0.95) * 2**0.5 * RULES.noise
    assert not alone.measured and (alone.low, alone.high) == pytest.approx(
        (-0.4 - half, -0.4 + half)
    )
    measured = estimate(diffs([-0.4]), RULES, Noise(0.65, 6))  # the study's own reseeded nets
    assert measured.high - measured.low == pytest.approx(2 * stats.norm.ppf(0.95) * 0.65 * 2**0.5)
    assert "measured on the reseeded base nets of 6 half(s)" in measured.text()


def test_the_unit_is_the_split_not_the_group():
    """A split's groups (both targets, every seed) are averaged first: a table whose effect is
    set by the split reads over 3 splits, not as 12 independent groups."""
    groups = {
        (f"s{s}", seed, t): Diff(effect)
        for s, effect in enumerate((1.5, 0.3, 0.9))
        for seed in (0, 1)
        for t in "AB"
    }
    got = estimate(groups, RULES)
    assert got.unit == "split" and got.n_units == 3
    low, high = interval90([1.5, 0.3, 0.9])
    assert (got.low, got.high) == pytest.approx((low, high))
    assert (round(low, 2), round(high, 2)) == (-0.11, 1.91)  # spans zero: nothing shown
    naive = interval90([d.value for d in groups.values()])
    assert naive[0] > 0  # what 12 groups taken as independent would have claimed


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, 0.5]
    # sorted: 0.01 x4 = 0.04, 0.03 x3 = 0.09, 0.04 x2 = 0.08 -> max so far 0.09, 0.5 x1 = 0.5
    assert holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_seed_noise_is_pooled_over_reseeded_base_nets():
    records = [net("base", 0, top1, seed=g) for g, top1 in enumerate((0.80, 0.81, 0.795))]
    records += [net("base", 0, top1, seed=g, target="A") for g, top1 in enumerate((0.9, 0.91))]
    noise = seed_noise(records, RULES)
    var_b = statistics.variance([80.0, 81.0, 79.5])
    var_a = statistics.variance([90.0, 91.0])
    assert noise.sd == pytest.approx(((2 * var_b + var_a) / 3) ** 0.5) and noise.from_pairs == 2
    assert seed_noise(records[:1], RULES) == Noise(RULES.noise)  # none reseeded: as stated


# ---- 1: AnB = baseB at n = 1-2 (equivalence) --------------------------------------------------


def test_1_holds_by_equivalence():
    got = finding(study(4, AnB={1: [-0.2, 0.1, 0.0, 0.1], 2: [0.1, -0.3, 0.0, -0.1]}), 1)
    assert got["verdict"] == HOLDS
    low, high = interval90([-0.2, 0.1, 0.0, 0.1])
    assert f"[{low:+.2f}, {high:+.2f}] points (4 seeds)" in got["text"]
    assert "within +- 1 point" in got["rule"]


def test_1_a_clear_drop_does_not_hold():
    got = finding(study(2, AnB={1: [-3.5, -4.0], 2: [-3.6, -3.9]}), 1)
    assert got["verdict"] == FAILS


def test_1_no_significant_difference_is_not_equality():
    got = finding(study(2, AnB={1: [0.8, -1.2], 2: [0.5, -0.9]}), 1)
    assert got["verdict"] == INCONCLUSIVE


def test_1_with_one_unit_rests_on_the_noise_of_a_difference():
    # one net minus another at the stated 1 point: +- 2.33, never inside +- 1
    assert finding(study(1, AnB={1: [-0.1], 2: [0.2]}), 1)["verdict"] == INCONCLUSIVE
    got = finding(study(1, AnB={1: [-4.0], 2: [-3.5]}), 1)
    assert got["verdict"] == FAILS and "no interval over replicates" in got["text"]
    wide = ReportSpec(margin=2.0, noise=0.5)  # a stated margin and noise that allow a verdict
    assert finding(study(1, AnB={1: [-0.1], 2: [0.2]}), 1, wide)["verdict"] == HOLDS


# ---- 2: the dip (beyond the margin, recovered at the top, Holm) ------------------------------

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


def test_2_a_drop_that_barely_recovers_is_no_dip():
    """The paper: 'by layer 6 performance is nearly back to the base level'. A 4-point drop in
    the middle that recovers 0.2 point at the top is a fall, not a dip."""
    drop = [-4.0, -4.1, -3.9, -4.05]
    top = [d + 0.2 for d in drop]
    got = finding(study(4, BnB=dip_curve({4: drop, 5: drop, 6: drop}, top=top)), 2)
    assert got["verdict"] == FAILS and "does not recover" in got["text"]


def test_2_a_steady_fall_to_the_top_is_no_dip():
    fall = {n: [-0.8 * (n - 1) + d for d in (0.0, 0.1, -0.1, 0.05)] for n in range(1, 8)}
    got = finding(study(4, BnB=fall), 2)
    assert got["verdict"] == FAILS and "does not recover" in got["text"]


def test_2_a_flat_bnb_is_no_dip():
    got = finding(study(4, BnB=dip_curve({})), 2)
    assert got["verdict"] == FAILS and "within the margin" in got["text"]


def test_2_one_cut_significant_alone_is_not_a_dip_after_holm():
    marginal = [-2.0, -2.5, -1.6]  # beyond the 1-point margin at one-sided p ~ 0.03 each
    flat3 = [0.1, -0.1, 0.05]
    curve = {n: flat3 for n in (1, 2, 3, 5, 6, 7)} | {4: marginal}
    got = finding(study(3, BnB=curve), 2)
    p = stats.ttest_1samp([-d - 1 for d in marginal], 0, alternative="greater").pvalue
    assert 0.0125 < p < 0.05  # significant alone, not once multiplied by the 4 middle cuts
    assert got["verdict"] == INCONCLUSIVE


def test_2_needs_the_top_cut():
    got = finding(study(4, BnB={1: FLAT, 4: FLAT}), 2)
    assert got["verdict"] == NOT_MEASURED and "top cut" in got["text"]


# ---- 3: BnB+ = baseB, at every cut ------------------------------------------------------------


def test_3_holds_and_a_cut_beyond_the_margin_refutes_it():
    small = {n: [0.1, -0.2, 0.0, 0.1] for n in (1, 3, 5, 7)}
    assert finding(study(4, BnB_plus=small), 3)["verdict"] == HOLDS
    low = small | {5: [-3.0, -2.8, -3.3, -3.1]}
    assert finding(study(4, BnB_plus=low), 3)["verdict"] == FAILS


def test_3_one_cut_short_is_never_averaged_away():
    """BnB+ 2.5 points below baseB at one cut (interval about [-4.5, -0.5]) and at baseB at six
    others: the mean over cuts is within the margin, the cut is not."""
    curve = {n: [0.1, -0.1, 0.0, 0.05] for n in (1, 2, 3, 4, 6, 7)}
    curve[5] = [-1.0, -4.0, -2.0, -3.0]
    got = finding(study(4, BnB_plus=curve), 3)
    assert got["verdict"] == INCONCLUSIVE and "Not shown within it at n = 5" in got["text"]


# ---- 4: AnB falls at the top ------------------------------------------------------------------


def test_4_holds_for_a_fall_and_not_for_a_flat_top():
    fall = {1: [0.1, -0.2, 0.0, 0.1], 7: [-9.0, -11.0, -10.2, -9.7]}
    got = finding(study(4, AnB=fall), 4)
    assert got["verdict"] == HOLDS and "the top cut n = 7" in got["text"]
    flat = {1: [0.1, -0.2, 0.0, 0.1], 7: [0.0, 0.2, -0.1, 0.1]}
    assert finding(study(4, AnB=flat), 4)["verdict"] == FAILS


def test_4_a_top_within_the_margin_does_not_hold():
    """AnB at the top cut 0.3 point below baseB, significantly but within the margin."""
    curve = {1: [0.1, -0.1, 0.0, 0.05], 7: [-0.3, -0.35, -0.25, -0.3]}
    got = finding(study(4, AnB=curve), 4)
    assert got["verdict"] == FAILS


def test_4_not_measured_without_the_top_cut():
    got = finding(study(4, AnB={1: FLAT, 2: FLAT}), 4)
    assert got["verdict"] == NOT_MEASURED and "top cut n = 7" in got["text"]


# ---- 5: the boost over baseB and over BnB+ -----------------------------------------------------


def test_5_holds_for_a_boost_over_both_and_not_below_baseB():
    up = {n: [1.8, 2.2, 1.6, 2.0] for n in (1, 4, 7)}
    flat = {n: [0.1, -0.1, 0.0, 0.05] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=up, BnB_plus=flat), 5)["verdict"] == HOLDS
    down = {n: [-1.8, -2.2, -1.6, -2.0] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=down, BnB_plus=flat), 5)["verdict"] == FAILS
    noisy = {n: [1.5, -1.0, 0.4, -0.6] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=noisy, BnB_plus=flat), 5)["verdict"] == INCONCLUSIVE


def test_5_longer_training_is_no_boost():
    """AnB+ = BnB+ = baseB + 2: the gain is longer training, which BnB+ has too."""
    up = {n: [1.8, 2.2, 1.6, 2.0] for n in (1, 4, 7)}
    got = finding(study(4, AnB_plus=up, BnB_plus=up), 5)
    assert got["verdict"] == FAILS and "longer training explains it" in got["text"]


def test_5_needs_bnb_plus_to_rule_out_longer_training():
    up = {n: [1.8, 2.2, 1.6, 2.0] for n in (1, 4, 7)}
    assert finding(study(4, AnB_plus=up), 5)["verdict"] == NOT_MEASURED


def test_5_one_pair_of_nets_is_no_boost():
    """One group, AnB+ 1.2 points above baseB and above BnB+: a difference of two nets whose
    noise alone is +- 1.5 point or more."""
    got = finding(study(1, AnB_plus={3: [1.2]}, BnB_plus={3: [0.0]}), 5)
    assert got["verdict"] == INCONCLUSIVE


def test_5_over_splits_that_share_nothing():
    """The boost set by the split (+1.5, +0.3, +0.9 over 3 splits x 2 seeds x 2 targets, BnB+ at
    baseB): over the 3 splits its interval spans zero, so no boost is shown, though the 12
    groups taken as independent would show one."""
    records = splits_study([1.5, 0.3, 0.9], AnB_plus=[3, 5])
    bases = [r for r in records if r["treatment"] == "base"]
    records += [
        net("selffer", n, r["top1"], True, r["seed"], r["split"], target=r["target"])
        for r in bases
        for n in (3, 5)
    ]
    got = finding(records, 5)
    assert got["verdict"] == INCONCLUSIVE and "(3 splits)" in got["text"]


# ---- convergence: baseB is a control only where it converged ---------------------------------


def longer(records: list[dict], gain: float) -> list[dict]:
    """Each group's base net again, trained longer, `gain` points above it."""
    return [
        r | {"role": "longer", "top1": r["top1"] + gain / 100}
        for r in records
        if r["treatment"] == "base"
    ]


def test_3_and_5_are_not_judged_on_base_nets_that_gain_from_longer_training():
    up = {n: [1.8, 2.2, 1.6, 2.0] for n in (1, 4, 7)}
    flat = {n: [0.1, -0.1, 0.0, 0.05] for n in (1, 4, 7)}
    records = study(4, AnB_plus=up, BnB_plus=flat)
    unconverged = records + longer(records, 2.0)
    for number in (3, 5):
        got = finding(unconverged, number)
        assert got["verdict"] == NOT_JUDGED and "did not converge" in got["text"]
    converged = records + longer(records, 0.1)
    assert finding(converged, 5)["verdict"] == HOLDS
    assert finding(converged, 3)["verdict"] == HOLDS
    assert "converged" in convergence_text(converged)
    assert finding(records, 1)["verdict"] == NOT_MEASURED  # the other observations: unchanged


# ---- nets at chance ---------------------------------------------------------------------------


def test_nets_at_chance_are_left_out_and_named():
    records = study(4, AnB={1: [0.1, -0.2, 0.0, 0.1], 2: [0.0, 0.1, -0.1, 0.0]})
    records = [r | {"n_classes": 5} for r in records]
    dead = net("transfer", 1, 0.21, seed=0, n_classes=5) | {"name": "s0:A1B#9"}
    got = finding(records + [dead], 1)
    assert got["verdict"] == HOLDS and "at or near chance are left out (s0:A1B#9)" in got["text"]


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


def test_6_random_weights_not_measured_where_no_group_has_both_nets():
    records = study(2, AnB={3: [-1.0, -1.5]})
    records = [r for r in records if not (r["label"] == "AnB" and r["seed"] == 0)]
    records.append(net("random", 3, 0.5, seed=0))  # seed 0 has random weights, seed 1 AnB
    semantic = study(3, kind="semantic", split="man-made", AnB={3: [-25.0, -24.0, -26.5]})
    got = finding(records + semantic, 6)
    assert got["verdict"] == NOT_MEASURED and "needs a group with both" in got["text"]


# ---- the decomposition calls a cut general exactly where observation 1 does -------------------


def test_the_decomposition_calls_general_what_observation_1_does():
    """BnB above baseB at n = 2 makes BnB - AnB significant while AnB = baseB: the features are
    general (observation 1's test), whatever the specificity drop says."""
    anb = [-0.1, 0.2, -0.3, 0.0]
    bnb = [1.0, 1.2, 0.8, 1.1]
    records = study(4, AnB={2: anb}, BnB={2: bnb})
    (row,) = decomposition(records)
    assert row["specificity_low"] > 0 and row["features"] == "general"
    assert finding(records, 1)["verdict"] == HOLDS


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
    got = estimate(diffs([a - b for a, b in zip(anb1, base)]), RULES)
    assert (round(got.mean, 2), round(got.low, 2), round(got.high, 2)) == (-0.10, -0.35, 0.15)
    assert got.within(RULES.margin)
    alone = estimate(diffs([anb1[0] - base[0]]), RULES)  # -0.2 +- 1.645 x sqrt(2) x 1
    assert (round(alone.low, 2), round(alone.high, 2)) == (-2.53, 2.13)
    assert not alone.within(1.0) and not alone.outside(1.0) and alone.within(3.0)
