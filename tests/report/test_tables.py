"""Table 1 and the decomposition worked out by hand: the network-averaging rule, the pooled
control, a table shaped like the original release's, where a transition is named, and the
interval of a study with one unit."""

from __future__ import annotations

import csv
import statistics

import pytest
from hand_tables import (
    COLUMNS,
    anb_plus,
    bnb_plus,
    interval90,
    make_record,
    records_of,
    write_results,
)
from scipy import stats

from featuretransfer.cli import main
from featuretransfer.report import table_text
from featuretransfer.report.results import load_results
from featuretransfer.report.tables import decomposition, table1


def test_table1_by_hand(tmp_path):
    rows = [
        make_record(top1=0.60, target="A"),
        make_record(top1=0.64, target="B"),
        make_record(top1=0.62, target="B", split="s1"),
        # AnB+ nets and their BnB+ controls (two BnB+ at n = 3 in group s0/B: their mean 0.64)
        anb_plus(1, 0.65),
        bnb_plus(1, 0.64),
        anb_plus(3, 0.66),
        bnb_plus(3, 0.63),
        bnb_plus(3, 0.65),
        anb_plus(5, 0.63, target="A"),
        bnb_plus(5, 0.61, target="A"),
        anb_plus(7, 0.65, split="s1"),
        bnb_plus(7, 0.62, split="s1"),
        # Left out: frozen AnB, the dissimilar split, diverged runs.
        make_record("transfer", 3, top1=0.10),
        anb_plus(3, 0.99, split="natural", split_kind="semantic"),
        anb_plus(5, "", status="diverged"),
    ]
    got = {row["layers"]: row for row in table1(records_of(tmp_path, rows))}
    assert list(got) == ["1-7", "3-7", "5-7"]
    assert [got[k]["cuts"] for k in got] == ["1, 3, 5, 7", "3, 5, 7", "5, 7"]
    # Pooled (the paper's rule): mean AnB+ in the range minus the mean of all 3 base nets (0.62)
    # or of all BnB+ nets in the range. 1-7: 0.6475 - 0.62; 0.6475 - mean(.64 .63 .65 .61 .62)
    pooled = {"1-7": (2.75, 1.75), "3-7": (2.0 + 2 / 3, 0.64666 * 100 - 62.75), "5-7": (2.0, 2.5)}
    for layers, (vs_base, vs_selffer) in pooled.items():
        assert got[layers]["pooled_vs_base"] == pytest.approx(vs_base, abs=1e-3)
        assert got[layers]["pooled_vs_selffer"] == pytest.approx(vs_selffer, abs=1e-3)
    assert got["1-7"]["n_networks"] == 4 and got["1-7"]["n_selffers"] == 5
    # By group: s0/B: mean(.65, .66) - .64 = 1.5; s0/A: .63 - .60 = 3; s1/B: .65 - .62 = 3.
    # Over BnB+ at the same cuts: s0/B: mean(1, 2) = 1.5; s0/A: 2; s1/B: 3. The groups of split
    # s0 share their base nets: averaged first, so the units are s0 (2.25; 1.75) and s1 (3; 3).
    row = got["1-7"]
    for column, values in (("grouped_vs_base", [2.25, 3]), ("grouped_vs_selffer", [1.75, 3])):
        low, high = interval90(values)
        assert row[column] == pytest.approx(statistics.fmean(values))
        assert (row[f"{column}_low"], row[f"{column}_high"]) == pytest.approx((low, high))
    assert (row["n_groups_vs_base"], row["n_groups_vs_selffer"]) == (2, 2)
    # the groups ran different cuts (s0/B 1 and 3, s0/A 5, s1/B 7): the pooled value says so
    assert row["pooled_note"].startswith("confounded: groups ran different cuts")


def test_table1_pooled_averages_networks_not_per_layer_means(tmp_path):
    # One AnB+ net at layer 1 (boost 1 point) and three at layer 2 (3 points each): the original
    # study's network average is (1 + 3 + 3 + 3) / 4 = 2.5; a mean of per-layer means would be 2.
    rows = [make_record(top1=0.60)]
    rows += [anb_plus(1, 0.61), bnb_plus(1, 0.60)]
    rows += [anb_plus(2, 0.63, seed=s) for s in range(3)] + [bnb_plus(2, 0.60)]
    (row,) = [r for r in table1(records_of(tmp_path, rows)) if r["layers"] == "1-7"]
    assert row["pooled_vs_base"] == pytest.approx((1 + 3 + 3 + 3) / 4)
    assert row["pooled_vs_base"] != pytest.approx((1 + 3) / 2)
    assert row["n_networks"] == 4
    # by group, only seed 0 has a base net: its AnB+ at cuts 1 and 2 average 2 points above it
    assert (row["grouped_vs_base"], row["n_groups_vs_base"]) == (pytest.approx(2.0), 1)


def test_table1_pooled_control_is_the_base_nets_of_the_targets_trained_towards(tmp_path):
    # A study towards B only: baseA (0.95 on A's classes) is a source, not a control for nets
    # scored on B; pooled over baseB alone, AnB+ (0.84) is 2 points above it (0.82)
    rows = [make_record(top1=0.95, target="A"), make_record(top1=0.82, target="B")]
    rows += [anb_plus(1, 0.84), bnb_plus(1, 0.83)]
    (row,) = [r for r in table1(records_of(tmp_path, rows)) if r["layers"] == "1-7"]
    assert row["pooled_vs_base"] == pytest.approx(2.0)  # not 0.84 - mean(.95, .82) = -4.5
    rows.append(anb_plus(1, 0.97, target="A"))  # and towards A too: both base nets are controls
    (row,) = [r for r in table1(records_of(tmp_path, rows)) if r["layers"] == "1-7"]
    assert row["pooled_vs_base"] == pytest.approx(100 * ((0.84 + 0.97) / 2 - (0.95 + 0.82) / 2))


def test_table1_counts_networks_without_a_control(tmp_path):
    # Split s2 has no base net: its AnB+ counts in the pooled rule, but forms no base group.
    rows = [make_record(top1=0.60), anb_plus(2, 0.62), bnb_plus(2, 0.61)]
    rows += [anb_plus(2, 0.70, split="s2"), bnb_plus(2, 0.69, split="s2")]
    (row,) = [r for r in table1(records_of(tmp_path, rows)) if r["layers"] == "1-7"]
    assert (row["n_networks"], row["n_groups_vs_base"], row["n_groups_vs_selffer"]) == (2, 1, 1)
    assert row["pooled_vs_base"] == pytest.approx(6.0)  # mean(.62, .70) - .60
    assert row["grouped_vs_base"] == pytest.approx(2.0)
    assert row["grouped_vs_selffer"] == pytest.approx(1.0)


ORIGINAL_SHAPED = """split,source,target,treatment,n_copied,fine_tune,top1
s0,A,A,base,0,false,0.62
s0,B,B,base,0,false,0.63
s1,A,A,base,0,false,0.61
s1,B,B,base,0,false,0.64
s2,A,A,base,0,false,0.625
s2,B,B,base,0,false,0.615
s3,A,A,base,0,false,0.63
s3,B,B,base,0,false,0.62
s0,A,B,transfer,1,true,0.64
s0,A,B,transfer,2,true,0.645
s0,A,B,transfer,3,true,0.65
s0,A,B,transfer,5,true,0.655
s0,A,B,transfer,6,true,0.66
s0,A,B,transfer,7,true,0.65
s1,A,B,transfer,1,true,0.65
s1,A,B,transfer,3,true,0.655
s1,A,B,transfer,5,true,0.66
s1,A,B,transfer,7,true,0.665
s0,A,A,selffer,2,true,0.625
s0,A,A,selffer,4,true,0.62
s0,A,A,selffer,6,true,0.63
s1,A,A,selffer,1,true,0.615
s1,A,A,selffer,3,true,0.61
s1,A,A,selffer,5,true,0.62
s1,A,A,selffer,7,true,0.625
s2,A,B,transfer,4,false,0.55
"""


def test_table1_of_a_table_shaped_like_the_original_release(tmp_path):
    # Like the original's released runs: fine-tuned nets on two of four splits only, AnB+ all
    # towards B, fine-tuned selffers all towards A (AnA+, counted as BnB+), some runs missing
    # (s0 has no AnB+ at n = 4), no seed and no n_layers column (so --layers 8).
    table = tmp_path / "original.csv"
    table.write_text(ORIGINAL_SHAPED)
    assert main(["report", "--results", str(table), "--out", str(tmp_path), "--layers", "8"]) == 0
    got = {r["layers"]: r for r in csv.DictReader((tmp_path / "report" / "table1.csv").open())}
    # Worked out by hand. Mean of the 8 base nets: 4.99 / 8 = 0.62375.
    # 1-7: AnB+ 6.53 / 10 = 0.653 -> +2.925; AnA+ 4.345 / 7 = 0.620714 -> +3.2286
    # 3-7: AnB+ 4.595 / 7 = 0.656429 -> +3.2679; AnA+ 3.105 / 5 = 0.621 -> +3.5429
    # 5-7: AnB+ 3.29 / 5 = 0.658 -> +3.425; AnA+ 1.875 / 3 = 0.625 -> +3.3
    expected = {"1-7": (2.925, 3.2286), "3-7": (3.2679, 3.5429), "5-7": (3.425, 3.3)}
    for layers, (vs_base, vs_selffer) in expected.items():
        assert float(got[layers]["pooled_vs_base"]) == pytest.approx(vs_base, abs=1e-4)
        assert float(got[layers]["pooled_vs_selffer"]) == pytest.approx(vs_selffer, abs=1e-4)
    assert got["1-7"]["n_networks"] == "10" and got["1-7"]["n_selffers"] == "7"
    # By group: s0/B: 3.9 / 6 - 0.63 = +2.0, s1/B: 2.63 / 4 - 0.64 = +1.75; no group has both
    # AnB+ and BnB+, so there is no grouped boost over BnB+
    assert float(got["1-7"]["grouped_vs_base"]) == pytest.approx(1.875)
    assert got["1-7"]["n_groups_vs_base"] == "2" and got["1-7"]["n_groups_vs_selffer"] == "0"
    assert got["1-7"]["grouped_vs_selffer"] == "nan"


def test_decomposition_by_hand(tmp_path):
    # two splits with one group each (target A on s1, target B on s0): two independent units
    bases = {"A": 0.58, "B": 0.60}
    bnb = {1: {"B": 0.60, "A": 0.57}, 2: {"B": 0.55, "A": 0.53}, 3: {"B": 0.59, "A": 0.57}}
    anb = {1: {"B": 0.60, "A": 0.57}, 2: {"B": 0.53, "A": 0.52}, 3: {"B": 0.50, "A": 0.49}}
    split = {"A": "s1", "B": "s0"}
    rows = [make_record(top1=y, target=t, n_layers=4, split=split[t]) for t, y in bases.items()]
    for n in bnb:
        for t in "AB":
            where = {"n_layers": 4, "split": split[t]}
            rows.append(make_record("selffer", n, t, bnb[n][t], **where))
            rows.append(make_record("transfer", n, t, anb[n][t], **where))
            rows.append(make_record("transfer", n, t, 0.99, fine_tuned=True, **where))
    got = decomposition(records_of(tmp_path, rows))
    assert [r["n"] for r in got] == [1, 2, 3]
    for row in got:
        n = row["n"]
        coadaptation = [100 * (bases[t] - bnb[n][t]) for t in "AB"]  # baseB - BnB, points
        specificity = [100 * (bnb[n][t] - anb[n][t]) for t in "AB"]  # BnB - AnB, points
        assert row["coadaptation_drop"] == pytest.approx(statistics.fmean(coadaptation))
        assert row["specificity_drop"] == pytest.approx(statistics.fmean(specificity))
        if statistics.stdev(specificity) > 0:
            assert (row["specificity_low"], row["specificity_high"]) == pytest.approx(
                interval90(specificity)
            )
        assert (row["n_groups_selffer"], row["n_groups_transfer"]) == (2, 2)
    # n=1: drops [1, 0] and [0, 0]: neither above zero; n=2: [5, 5] (above) against [1, 2]
    # (+1.5, 90% interval -1.66..4.66: not above); n=3: [1, 1] and [8, 9]: both above, the
    # larger is specificity. Two groups make wide t-intervals (t = 6.31 at 1 dof).
    assert [r["dominant"] for r in got] == ["neither", "co-adaptation", "specificity"]
    # general as observation 1 decides it: AnB - baseB at n = 1 is [0, 1] points, within the
    # margin only if its interval is (1 dof: -2.65..3.65: not within); n = 3: 10 and 9 below
    # baseB, interval 9.5 +- 3.16: beyond the margin, and BnB - AnB above zero: specific
    assert [r["features"] for r in got] == ["inconclusive", "inconclusive", "specific"]
    text = table_text.transition_text(got)
    assert "co-adaptation (baseB − BnB) is the larger drop beyond the margin at cut 2" in text
    # specific from cut 3, but cut 2 is neither general nor specific: no transition is claimed
    assert "between layers" not in text and "at cut 2 neither general nor specific" in text


def decomposed(tmp_path, sp_drops: dict[int, list[float]], groups: int = 3) -> list[dict]:
    """Base nets of `groups` seeds at 0.90, BnB at 0.90 and AnB `sp_drops[n][g]` points below."""
    rows = [make_record(top1=0.90, seed=g) for g in range(groups)]
    for n, drops in sp_drops.items():
        for g, d in enumerate(drops):
            rows += [make_record("selffer", n, top1=0.90, seed=g)]
            rows += [make_record("transfer", n, top1=0.90 - d / 100, seed=g)]
    return decomposition(records_of(tmp_path, rows))


def test_a_cause_dominates_only_beyond_the_margin(tmp_path):
    """BnB 0.2-0.4 points below baseB in each of three groups is a significant drop, yet smaller
    than the 1-point margin: no cause is named. 3-5 points is."""
    rows = [make_record(top1=0.90, seed=g) for g in range(3)]
    for n, drops in {3: (0.3, 0.2, 0.4), 4: (3.0, 4.0, 5.0)}.items():
        for g, d in enumerate(drops):
            rows += [make_record("selffer", n, top1=0.90 - d / 100, seed=g)]
            rows += [make_record("transfer", n, top1=0.90 - d / 100, seed=g)]
    got = decomposition(records_of(tmp_path, rows))
    assert got[0]["coadaptation_low"] > 0  # significant at n = 3 ...
    assert [r["dominant"] for r in got] == ["neither", "co-adaptation"]  # ... but within 1 point


def test_a_transition_is_named_only_between_measured_neighbours(tmp_path):
    flat, drop = [0.0, 0.1, -0.1], [6.0, 7.0, 6.5]
    text = table_text.transition_text(decomposed(tmp_path, {2: flat, 3: flat, 4: drop, 5: drop}))
    assert "between layers 3 and 4" in text
    text = table_text.transition_text(decomposed(tmp_path, {2: flat, 5: drop}))
    assert "between the measured cuts 2 and 5 (cuts 3-4 were not run)" in text
    assert "between layers 4 and 5" not in text


def test_one_unit_takes_the_noise_of_a_difference_and_says_so(tmp_path):
    """One split and seed: no replicate. A difference of two nets carries sqrt(2) x one net's
    seed noise (the stated 1 point here) and both nets' test-set sampling error."""
    rows = [make_record(top1=0.6, n_test=2500), make_record("selffer", 4, top1=0.55, n_test=2500)]
    rows += [make_record("transfer", 4, top1=0.5, n_test=2500), anb_plus(4, 0.62), bnb_plus(4, 0.6)]
    records = load_results(
        write_results(tmp_path / "results.csv", rows, columns=(*COLUMNS, "n_test"))
    )
    (row,) = [r for r in decomposition(records) if r["n"] == 4]
    assert row["coadaptation_drop"] == pytest.approx(5.0)
    sampling = 1e4 * (0.6 * 0.4 + 0.55 * 0.45) / 2500  # points^2
    half = stats.norm.ppf(0.95) * (2 * 1.0**2 + sampling) ** 0.5
    assert half == pytest.approx(3.27, abs=0.01)  # not the +- 1 the stated noise alone gave
    low, high = row["coadaptation_low"], row["coadaptation_high"]
    assert (low, high) == pytest.approx((5.0 - half, 5.0 + half))
    markdown = table_text.table1_markdown(table1(records))
    half = stats.norm.ppf(0.95) * 2**0.5  # AnB+ and baseB: no test-set size in the table
    assert f"+2.00 [{2 - half:+.2f}, {2 + half:+.2f}]* (1) |" in markdown
    lone = decomposed(tmp_path, {1: [0.5], 2: [1.5]}, groups=1)
    assert [r["dominant"] for r in lone] == ["neither", "neither"]
    text = table_text.transition_text(lone)
    assert "single split and seed" in text and "not from replicates" in text
