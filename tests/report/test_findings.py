"""Tests of findings.py: each observation's verdict on hand-built records whose answer is known.

The records are dicts shaped as report.load_results returns them. A study here has one random
split towards B with three seeds, so every point has three networks and baseB three base nets,
unless a test says otherwise. Gaps are in percentage points.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest
from scipy import stats

from featuretransfer.report.findings import FAILS, HOLDS, NOT_MEASURED, findings, findings_markdown

BASE = 0.80  # baseB's top-1
SEED_NOISE = (-0.002, 0.0, 0.002)  # per seed: a small spread, so that every CI is narrow
LABELS = {"base": "baseB", "selffer": "BnB", "transfer": "AnB", "random": "random weights"}


def net(treatment, n=0, top1=BASE, fine_tuned=False, seed=0, split="s0", kind="random", **extra):
    """One record as report.load_results gives it."""
    source = {"transfer": "A", "random": ""}.get(treatment, "B")
    plus = "+" if fine_tuned and treatment != "base" else ""
    record = {
        "split": split,
        "split_kind": kind,
        "source": source,
        "target": "B",
        "treatment": treatment,
        "n": n,
        "fine_tuned": fine_tuned,
        "seed": seed,
        "n_layers": 8,
        "status": "done",
        "top1": top1,
        "n_train_per_class": 0,
        "train_top1": float("nan"),
        "label": LABELS[treatment] + plus,
    }
    return record | extra


def seeds(treatment, n, gap_pts, fine_tuned=False, **fields) -> list[dict]:
    """Three networks, one per seed, at baseB + gap_pts points (plus the seed's noise)."""
    return [
        net(treatment, n, BASE + gap_pts / 100 + e, fine_tuned, seed=s, **fields)
        for s, e in enumerate(SEED_NOISE)
    ]


def bases(**fields) -> list[dict]:
    return seeds("base", 0, 0.0, **fields)


def ci95(values: list[float]) -> float:
    return stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5


def study(anb=None, bnb=None, bnb_plus=None, anb_plus=None) -> list[dict]:
    """Bases and every treatment at n = 1..7; each argument maps n to its gap in points, else 0."""
    records = bases()
    for treatment, fine_tuned, gaps in (
        ("transfer", False, anb),
        ("selffer", False, bnb),
        ("selffer", True, bnb_plus),
        ("transfer", True, anb_plus),
    ):
        for n in range(1, 8):
            records += seeds(treatment, n, (gaps or {}).get(n, 0.0), fine_tuned)
    return records


def finding(records, number: int) -> dict:
    (found,) = [f for f in findings(records) if f["number"] == number]
    return found


def test_a_three_point_dip_at_n4_is_fragile_coadaptation():
    got = finding(study(bnb={4: -3.0}), 2)
    assert got["verdict"] == HOLDS
    gaps = [100 * e - 3.0 for e in SEED_NOISE]  # each BnB minus the bases' mean, BASE
    assert (
        f"{statistics.fmean(gaps):+.2f} ± {ci95(gaps):.2f} points (3 nets) at n = 4"
        in (got["text"])
    )
    assert "layer 4 " in got["text"]  # the one cut below baseB


def test_no_dip_and_no_middle_cut():
    got = finding(study(bnb={1: -3.0, 7: -3.0}), 2)  # drops outside the middle layers only
    assert got["verdict"] == FAILS and "At no middle cut (layers 2–6)" in got["text"]
    got = finding(bases() + seeds("selffer", 1, -3.0) + seeds("selffer", 7, -3.0), 2)
    assert got["verdict"] == NOT_MEASURED and "frozen BnB nets at a cut n = 2-6" in got["text"]


def test_general_first_layers():
    assert finding(study(anb={3: -4.0}), 1)["verdict"] == HOLDS
    got = finding(study(anb={2: -4.0}), 1)
    assert got["verdict"] == FAILS and "significantly below baseB at layer 2" in got["text"]
    got = finding(bases() + seeds("transfer", 5, -4.0), 1)
    assert got["verdict"] == NOT_MEASURED and "frozen AnB nets at n = 1 or 2" in got["text"]


def test_fine_tuning_repairs_coadaptation():
    got = finding(study(bnb={4: -3.0}), 3)  # BnB dips, BnB+ does not
    assert got["verdict"] == HOLDS and "(21 nets) over all cuts" in got["text"]
    got = finding(study(bnb_plus={3: -2.0}), 3)
    assert got["verdict"] == FAILS and "significantly below baseB at layer 3" in got["text"]
    assert finding(study(bnb_plus={3: -2.0}), 3)["text"].endswith("at n = 3.")
    assert finding(bases() + seeds("selffer", 4, -3.0), 3)["verdict"] == NOT_MEASURED


def test_specificity_at_the_top():
    got = finding(study(anb={n: -2.0 * (n - 1) for n in range(1, 8)}), 4)
    assert got["verdict"] == HOLDS
    assert "-12.00 ± 0.50 points (3 nets) at the top cut n = 7" in got["text"]
    assert "ends 12.00 points below baseB" in got["text"]
    assert finding(study(), 4)["verdict"] == FAILS
    # A study that stops below the top cut says so.
    got = finding(bases() + seeds("transfer", 1, 0.0) + seeds("transfer", 5, -6.0), 4)
    assert got["verdict"] == HOLDS and "n = 5, the highest cut run" in got["text"]


def test_generalisation_boost_is_table1():
    got = finding(study(anb_plus={n: 2.0 for n in range(1, 8)}), 5)
    assert got["verdict"] == HOLDS
    boosts = [100 * e + 2.0 for e in SEED_NOISE] * 7
    assert f"+2.00 ± {ci95(boosts):.2f} points over layers 1-7 (21 nets, Table 1)" in got["text"]
    assert "over BnB+ it is +2.00" in got["text"]
    assert finding(study(), 5)["verdict"] == FAILS
    # As long-trained BnB+ nets do as well: the boost may come from the longer training.
    both = study(anb_plus={n: 2.0 for n in range(1, 8)}, bnb_plus={n: 2.0 for n in range(1, 8)})
    got = finding(both, 5)
    assert got["verdict"] == HOLDS and "longer training may explain" in got["text"]
    assert finding(bases(), 5)["verdict"] == NOT_MEASURED


def dissimilar(drop_pts: float) -> list[dict]:
    """A semantic split with its own base nets and frozen AnB at n = 7."""
    semantic = {"split": "natural", "kind": "semantic"}
    return bases(**semantic) + seeds("transfer", 7, -drop_pts, **semantic)


def random_weights(gap_pts: float) -> list[dict]:
    return seeds("random", 7, gap_pts)


def test_dissimilar_split_and_random_weights():
    records = study(anb={7: -8.0}) + dissimilar(25.0) + random_weights(-70.0)
    got = finding(records, 6)
    assert got["verdict"] == HOLDS
    assert "the dissimilar drop is larger by +17.00 ± " in got["text"]
    assert "below frozen AnB at every common cut (layer 7)" in got["text"]
    got = finding(study(anb={7: -8.0}) + dissimilar(8.0) + random_weights(-70.0), 6)
    assert got["verdict"] == FAILS  # no larger drop for the dissimilar split
    got = finding(study(anb={7: -8.0}) + dissimilar(25.0) + random_weights(-8.0), 6)
    assert got["verdict"] == FAILS and "not significantly below frozen AnB" in got["text"]


def test_half_of_observation_6_is_not_measured_and_says_what_is_needed():
    got = finding(study(anb={7: -8.0}) + dissimilar(25.0), 6)
    assert got["verdict"] == NOT_MEASURED
    assert "the dissimilar drop is larger" in got["text"]  # the measured half still reports
    assert "needs frozen random-weights nets" in got["text"]
    got = finding(study(anb={7: -8.0}) + random_weights(-70.0), 6)
    assert got["verdict"] == NOT_MEASURED and "on a semantic split" in got["text"]


def test_one_network_per_point_uses_the_noise_floor():
    # One seed: no CI. A 0.5-point drop is noise, a 1.5-point one counts (SINGLE_NETWORK_NOISE_PTS).
    # Three base nets (seeds 0-2) keep the controls' floor out of it.
    lone = [net("transfer", n, BASE + gap / 100) for n, gap in ((1, -0.5), (2, -0.5))]
    got = finding(bases() + lone, 1)
    assert got["verdict"] == HOLDS
    assert "-0.50 points (1 net) at n = 1" in got["text"]
    assert "Points with one net have no CI: a difference counts only beyond 1 point" in got["text"]
    lone = [net("transfer", 1, BASE - 0.015)]
    assert finding(bases() + lone, 1)["verdict"] == FAILS


def test_one_base_net_adds_its_noise_floor():
    # Seven AnB+ nets 0.6 points above one base net: their CI excludes zero, but the base net's
    # own seed noise (about 1 point) is in no CI, so the boost does not count.
    anb_plus = [net("transfer", n, BASE + 0.006 + 0.0001 * n, True) for n in range(1, 8)]
    got = finding([net("base")] + anb_plus, 5)
    assert got["verdict"] == FAILS
    assert "The controls rest on one base net" in got["text"]
    # Three base nets with the same mean: the CI alone decides.
    assert finding(bases() + anb_plus, 5)["verdict"] == HOLDS


def test_volume_base_nets_do_not_enter_the_findings():
    records = study(bnb={4: -3.0}, anb={7: -10.0})
    volume = [net("base", top1=0.2, seed=s, n_train_per_class=10) for s in range(3)]
    assert findings(records + volume) == findings(records)


def test_empty_study_measures_nothing():
    found = findings([])
    assert [f["number"] for f in found] == [1, 2, 3, 4, 5, 6]
    assert {f["verdict"] for f in found} == {NOT_MEASURED}
    assert all(f["text"] and f["claim"] for f in found)
    text = findings_markdown(found)
    assert text.startswith("# Findings") and text.count("*not measured*") == 6


def test_findings_never_import_torch():
    code = "import sys, featuretransfer.report.findings; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 6])
def test_every_finding_has_the_paper_claim_and_a_verdict(number):
    got = finding(study(), number)
    assert got["verdict"] in (HOLDS, FAILS, NOT_MEASURED)
    assert got["claim"] and got["text"].endswith(".")
