"""Tests of the report (report/): Table 1 and the decomposition worked out by hand, the
network-averaging rule, every bad-input path, the files written, and a golden run on the fake
store in tests/report/."""

from __future__ import annotations

import csv
import shutil
import statistics
import sys
from pathlib import Path

import pytest
from scipy import stats

from featuretransfer.cli import main
from featuretransfer.report import figures, results, tables, volume, writer
from featuretransfer.report.results import ReportError, load_results
from featuretransfer.report.tables import decomposition, table1
from featuretransfer.report.writer import write_report, write_report_from_csv

DATA = Path(__file__).parent
COLUMNS = (
    *("job_id", "study", "split", "split_kind", "source", "target", "treatment", "n_copied"),
    *("fine_tune", "seed", "n_layers", "status", "top1", "weights"),
    *("n_train_per_class", "train_top1"),
)
REPORT_FILES = (
    *("figure2.png", "figure2.svg", "figure3.png", "figure3.svg", "filters.png"),
    *("table1.md", "table1.csv", "decomposition.csv", "findings.md", "index.html"),
)
VOLUME_FILES = ("volume.png", "volume.svg", "volume.csv", "volume.md")


def make_record(treatment="base", n=0, target="B", top1=0.6, fine_tuned=False, **fields) -> dict:
    """One results.csv row as the store writes it; `fields` override the defaults."""
    other = "A" if target == "B" else "B"
    source = {"transfer": other, "random": ""}.get(treatment, target)
    record = {
        "job_id": f"job{treatment}{n}{target}",
        "study": "hand-made",
        "split": "s0",
        "split_kind": "random",
        "source": source,
        "target": target,
        "treatment": treatment,
        "n_copied": n,
        "fine_tune": "true" if fine_tuned else "false",
        "seed": 0,
        "n_layers": 8,
        "status": "done",
        "top1": top1,
        "weights": "",
        "n_train_per_class": 0,
        "train_top1": "",
    }
    return record | fields


def write_results(path: Path, records: list[dict], columns=COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    return path


def records_of(tmp_path: Path, rows: list[dict]) -> list[dict]:
    return load_results(write_results(tmp_path / "results.csv", rows))


def ci95(values: list[float]) -> float:
    """Half-width of the 95% t-interval, written out independently of tables.mean_ci."""
    return stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5


def interval90(values: list[float]) -> tuple[float, float]:
    """The 90% t-interval of the mean (each end a one-sided test at 5%), written out here."""
    mean = statistics.fmean(values)
    half = stats.t.ppf(0.95, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean - half, mean + half


def anb_plus(n, top1, **fields):
    return make_record("transfer", n, top1=top1, fine_tuned=True, **fields)


def bnb_plus(n, top1, **fields):
    return make_record("selffer", n, top1=top1, fine_tuned=True, **fields)


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
    text = tables.transition_text(got)
    assert "co-adaptation (baseB − BnB) is the larger significant drop at cut 2" in text
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


def test_a_transition_is_named_only_between_measured_neighbours(tmp_path):
    flat, drop = [0.0, 0.1, -0.1], [6.0, 7.0, 6.5]
    text = tables.transition_text(decomposed(tmp_path, {2: flat, 3: flat, 4: drop, 5: drop}))
    assert "between layers 3 and 4" in text
    text = tables.transition_text(decomposed(tmp_path, {2: flat, 5: drop}))
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
    markdown = tables.table1_markdown(table1(records))
    half = stats.norm.ppf(0.95) * 2**0.5  # AnB+ and baseB: no test-set size in the table
    assert f"+2.00 [{2 - half:+.2f}, {2 + half:+.2f}]* (1) |" in markdown
    lone = decomposed(tmp_path, {1: [0.5], 2: [1.5]}, groups=1)
    assert [r["dominant"] for r in lone] == ["neither", "neither"]
    text = tables.transition_text(lone)
    assert "single split and seed" in text and "not from replicates" in text


def bad_row(column, value):
    return make_record("transfer", 3) | {column: value}


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("treatment", "finetune", "unknown treatment 'finetune'"),
        ("n_copied", "8", "out of range"),
        ("n_copied", "0", "out of range"),
        ("n_copied", "three", "not an integer"),
        ("top1", "abc", "non-numeric score 'abc'"),
        ("top1", "62.5", "outside [0, 1]"),
        ("top1", "", "finite score"),
        ("fine_tune", "maybe", "true/false"),
        ("target", "C", "unknown target 'C', expected A/B"),
        ("source", "B", "source"),
        ("split_kind", "similar", "unknown split kind"),
        ("status", "crashed", "unknown status"),
        ("n_train_per_class", "-5", "0 (all images) or more"),
        ("n_train_per_class", "ten", "not an integer"),
        ("train_top1", "97", "outside [0, 1]"),
        ("train_top1", "high", "non-numeric score 'high'"),
    ],
)
def test_bad_value_names_file_row_and_column(tmp_path, column, value, words):
    path = write_results(tmp_path / "theirs.csv", [make_record(), bad_row(column, value)])
    with pytest.raises(ReportError) as caught:
        write_report_from_csv(path, tmp_path / "out")
    message = str(caught.value)
    assert "\n" not in message
    assert "theirs.csv: row 2 (line 3)" in message
    assert f"column '{column}'" in message
    assert words in message
    assert isinstance(caught.value, ValueError)  # the CLI catches ValueError subclasses too
    assert not (tmp_path / "out" / "report").exists()  # nothing half-written


def test_base_net_with_a_cut_is_out_of_range(tmp_path):
    path = write_results(tmp_path / "results.csv", [make_record(n=2)])  # a base net
    with pytest.raises(ReportError, match=r"row 1 \(line 2\), column 'n_copied': out of range"):
        load_results(path)


def test_missing_column_names_the_header_row(tmp_path):
    columns = tuple(c for c in COLUMNS if c != "treatment")
    path = write_results(tmp_path / "theirs.csv", [make_record()], columns)
    with pytest.raises(ReportError) as caught:
        write_report_from_csv(path, tmp_path)
    assert "theirs.csv: header row (line 1) lacks column 'treatment'" in str(caught.value)


def test_empty_or_absent_table(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ReportError, match="empty.csv: empty file"):
        load_results(tmp_path / "empty.csv")
    with pytest.raises(ReportError, match="no such results file"):
        write_report_from_csv(tmp_path / "nowhere.csv", tmp_path / "out")
    with pytest.raises(ReportError, match=r"holds no study \(no plan.json\)"):
        write_report(tmp_path)  # a folder that no run made


def test_external_table_with_only_the_documented_columns(tmp_path):
    # Another framework's log: no split_kind, seed, n_layers or status; True/False and 1/0 flags.
    rows = [
        dict(zip(results.REQUIRED_COLUMNS, values))
        for values in (
            ("s0", "B", "B", "base", 0, "False", 0.6),
            ("s0", "A", "B", "transfer", 3, "True", 0.63),
            ("s0", "B", "B", "selffer", 3, "1", 0.61),
            ("s0", "B", "B", "selffer", 5, "0", 0.58),
        )
    ]
    path = write_results(tmp_path / "logs" / "theirs.csv", rows, results.REQUIRED_COLUMNS)
    with pytest.raises(ReportError, match="no n_layers column: give .*--layers L"):
        load_results(path)  # the top cut cannot be told from the cuts the table holds
    records = load_results(path, n_layers=6)
    assert [r["fine_tune"] for r in records] == [False, True, True, False]
    assert {r["n_layers"] for r in records} == {6}
    assert {r["split_kind"] for r in records} == {"random"}
    assert [r["label"] for r in records] == ["baseB", "AnB+", "BnB+", "BnB"]
    with pytest.raises(
        ReportError, match=r"row 2 .* 'n_copied': out of range: a transfer net needs 1..2"
    ):
        load_results(path, n_layers=3)
    folder = write_report_from_csv(path, tmp_path / "out", n_layers=6)
    assert folder == tmp_path / "out" / "report"
    table = list(csv.DictReader((folder / "table1.csv").open()))
    assert [r["layers"] for r in table] == ["1-5", "3-5", "5-5"]
    assert float(table[0]["pooled_vs_base"]) == pytest.approx(3.0)
    assert float(table[0]["pooled_vs_selffer"]) == pytest.approx(2.0)
    assert "No study.json" in (folder / "index.html").read_text()


def test_all_files_written_and_shown(tmp_path):
    rows = [make_record(top1=0.6, target=t, weights=f"jobs/base{t}/model.pt") for t in "AB"]
    rows += [make_record("selffer", n, top1=0.58) for n in (1, 2)]
    rows += [make_record("transfer", n, top1=0.55) for n in (1, 2)]
    rows += [bnb_plus(n, 0.6) for n in (1, 2)] + [anb_plus(n, 0.62) for n in (1, 2)]
    rows += [make_record("random", n, top1=0.3) for n in (1, 2)]
    semantic = {"split": "natural", "split_kind": "semantic"}
    rows += [make_record(target=t, **semantic) for t in "AB"]
    rows += [make_record("transfer", 2, t, 0.4, **semantic) for t in "AB"]
    rows += [anb_plus(2, "", status="diverged", job_id="gone1")]
    write_results(tmp_path / "results.csv", rows)
    folder = write_report_from_csv(tmp_path / "results.csv", tmp_path)
    assert folder == tmp_path / "report"
    for name in REPORT_FILES:
        assert (folder / name).stat().st_size > 0, name
    page = (folder / "index.html").read_text()
    for name in ("figure2.png", "figure3.png", "filters.png", "table1.csv", "decomposition.csv"):
        assert f"{name}" in page
    assert "gone1" in page  # diverged networks are listed
    assert "missing weights file" in page  # filters.png says so instead of failing
    header = next(csv.reader((folder / "table1.csv").open()))
    assert header[:4] == ["layers", "cuts", "pooled_vs_base", "pooled_vs_selffer"]
    assert (folder / "table1.md").read_text().startswith("# Table 1")


def test_report_of_a_table_without_rows_is_an_error(tmp_path):
    write_results(tmp_path / "results.csv", [])
    with pytest.raises(ReportError, match="a header but no rows"):
        write_report_from_csv(tmp_path / "results.csv", tmp_path)


def test_report_needs_no_torch(tmp_path, monkeypatch):
    store = shutil.copytree(DATA / "fake_store", tmp_path / "store")
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    folder = write_report_from_csv(store / "results.csv", store)
    assert "torch is not available" in (folder / "index.html").read_text()
    assert (folder / "table1.csv").read_text() == (DATA / "golden" / "table1.csv").read_text()


def test_golden_fake_store(tmp_path):
    # tests/report/fake_store: 2 random splits, a dissimilar split and a random-weights control
    # shaped like the paper, with first-layer weights for three of its six base nets.
    store = shutil.copytree(DATA / "fake_store", tmp_path / "store")
    folder = write_report_from_csv(store / "results.csv", store)
    # Its 12 data-volume base nets (k = 10, 100, 1000) leave Table 1 and the decomposition as
    # they were before the store had them.
    for name in ("table1.csv", "decomposition.csv", "findings.md", "volume.csv"):
        assert (folder / name).read_text() == (DATA / "golden" / name).read_text(), name
    page = (folder / "index.html").read_text()
    # two splits: cut 2 is neither shown general nor specific, so no transition is located
    assert "Specific from cut 3 up; at cut 2 neither general nor specific" in page
    assert page.count("<li>") == 3  # the three base nets without readable weights
    assert "12 networks trained on another number of images per class" in page
    records = load_results(store / "results.csv")
    assert len(records) == 151 and sum(r["status"] == "diverged" for r in records) == 1


def test_first_layer_is_the_first_4d_weight(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    weights = {"conv1.bias": torch.zeros(2), "conv1.weight": torch.ones(2, 1, 3, 3)}
    torch.save(weights | {"conv2.weight": torch.zeros(4, 2, 3, 3)}, path)
    first = figures.first_layer_weight(path)
    assert first.shape == (2, 1, 3, 3) and first.min() == 1.0
    mosaic = figures.filter_mosaic(first)
    assert mosaic.shape == (1 + 1 * 4, 1 + 2 * 4, 3)  # one row of two 3x3 tiles, 1-pixel gaps


def test_figure2_shows_only_the_bases_of_targeted_halves(tmp_path):
    rows = [
        make_record(target="A", top1=0.97),
        make_record(target="B", top1=0.90),
        make_record("transfer", 3, top1=0.85),
    ]
    base = figures.figure2_series(records_of(tmp_path, rows))[0]
    assert base["points"] == [(0, 0.90)]  # baseA trains no A-targeted net: not shown as baseB
    both = rows + [make_record("transfer", 3, target="A", top1=0.95)]
    base = figures.figure2_series(records_of(tmp_path, both))[0]
    assert sorted(y for _, y in base["points"]) == [0.90, 0.97]


# --- data volume ----------------------------------------------------------------------------


def volume_base(k, top1, train_top1, target="B", seed=0, **fields):
    return make_record(
        top1=top1, target=target, seed=seed, n_train_per_class=k, train_top1=train_top1, **fields
    )


def main_study() -> list[dict]:
    """Base nets of both halves and one net of each treatment at n = 1..3, all on every image."""
    rows = [make_record(top1=0.90, target=t, seed=s) for t in "AB" for s in (0, 1)]
    for n in (1, 2, 3):
        rows += [make_record("selffer", n, top1=0.88), make_record("transfer", n, top1=0.86)]
        rows += [bnb_plus(n, 0.905), anb_plus(n, 0.92)]
    return rows


def test_optional_columns_default_for_old_tables(tmp_path):
    old = [{k: v for k, v in make_record().items() if k not in ("n_train_per_class", "train_top1")}]
    columns = tuple(c for c in COLUMNS if c not in ("n_train_per_class", "train_top1"))
    (record,) = load_results(write_results(tmp_path / "old.csv", old, columns))
    assert record["n_train_per_class"] == 0 and record["train_top1"] != record["train_top1"]
    (record,) = records_of(tmp_path, [volume_base(100, 0.5, 0.97)])
    assert (record["n_train_per_class"], record["train_top1"]) == (100, 0.97)


def test_volume_base_nets_never_leak_into_the_main_view(tmp_path):
    rows = main_study()
    volume = [volume_base(10, 0.20, 1.0, t, s) for t in "AB" for s in (0, 1)]
    volume += [volume_base(100, 0.50, 0.99, t, s) for t in "AB" for s in (0, 1)]
    plain, with_volume = records_of(tmp_path, rows), records_of(tmp_path, rows + volume)
    assert tables.main_records(with_volume) == plain
    base = figures.figure2_series(tables.main_records(with_volume))[0]
    assert base["line"] == figures.figure2_series(plain)[0]["line"]
    assert base["line"][0][1] == pytest.approx(0.90)
    rows1 = table1(tables.main_records(with_volume))
    assert tables.table1_markdown(rows1) == tables.table1_markdown(table1(plain))
    assert rows1[0]["pooled_vs_base"] == pytest.approx(2.0)  # AnB+ 0.92 over baseB 0.90
    # Through the files: the report of the bigger table gives the same Table 1 and decomposition.
    alone = write_report_from_csv(write_results(tmp_path / "a" / "r.csv", rows), tmp_path / "a")
    both = write_report_from_csv(
        write_results(tmp_path / "b" / "r.csv", rows + volume), tmp_path / "b"
    )
    for name in ("table1.csv", "decomposition.csv", "findings.md"):
        assert (alone / name).read_text() == (both / name).read_text(), name


def test_main_view_without_treatments_takes_the_most_common_k(tmp_path):
    rows = [volume_base(k, 0.5, 0.9, seed=s) for k in (10, 100) for s in range(3)]
    rows += [volume_base(0, 0.9, 0.95, seed=s) for s in range(2)]
    assert {r["n_train_per_class"] for r in tables.main_records(records_of(tmp_path, rows))} == {
        100  # three nets each at k = 10 and 100: the tie goes to the larger k
    }
    rows += [make_record("transfer", 2, top1=0.8, n_train_per_class=10)]
    assert {r["n_train_per_class"] for r in tables.main_records(records_of(tmp_path, rows))} == {
        10  # the treatments' k, however few they are
    }


def test_volume_table_by_hand(tmp_path):
    rows = [volume_base(10, y, t, seed=s) for s, (y, t) in enumerate([(0.20, 1.0), (0.30, 0.98)])]
    rows += [volume_base(0, 0.90, 0.95), volume_base(0, 0.92, "", seed=1)]  # one without train
    rows += [volume_base(10, 0.25, 1.0, target="A")]  # A has a single k: no curve, no rows
    got = volume.volume_rows(records_of(tmp_path, rows))
    assert [(r["half"], r["n_train_per_class"], r["n_networks"]) for r in got] == [
        ("B", 10, 2),
        ("B", 0, 2),
    ]
    k10, every = got
    assert k10["test_top1_pct"] == pytest.approx(25.0)
    assert k10["test_ci95_pct"] == pytest.approx(ci95([20.0, 30.0]))
    assert k10["train_top1_pct"] == pytest.approx(99.0)
    assert k10["gap_pts"] == pytest.approx(statistics.fmean([80.0, 68.0]))
    assert k10["gap_ci95_pts"] == pytest.approx(ci95([80.0, 68.0]))
    assert every["n_train_scored"] == 1 and every["gap_pts"] == pytest.approx(5.0)
    assert every["gap_ci95_pts"] != every["gap_ci95_pts"]  # one net: no CI
    cells = volume.volume_cells(got)
    assert cells[1][:3] == ["all", "B", 2] and cells[1][5] == "+5.00"


def test_volume_files_only_when_run(tmp_path):
    rows = main_study() + [volume_base(k, 0.5, 0.9, t) for t in "AB" for k in (10, 100)]
    write_results(tmp_path / "results.csv", rows)
    folder = write_report_from_csv(tmp_path / "results.csv", tmp_path)
    for name in VOLUME_FILES:
        assert (folder / name).stat().st_size > 0, name
    page = (folder / "index.html").read_text()
    assert 'src="volume.png"' in page and "Not run" not in page
    assert "| 10 | B | 1 | 50.00 | 90.00 | +40.00 |" in (folder / "volume.md").read_text()
    # a copied PNG still says what it shows: title and caption in its text chunks, as Figure 2's
    from PIL import Image

    for name, title in (("volume.png", "Data volume"), ("figure2.png", "Figure 2")):
        text = Image.open(folder / name).text
        assert text["Title"].startswith(title) and "base group" in text["Description"], name


def test_the_caption_counts_base_groups_not_base_nets(tmp_path):
    # baseA and baseB of one split and seed, nets towards B only: one group (baseA is a source)
    rows = [make_record(top1=0.9, target=t) for t in "AB"]
    rows += [make_record("transfer", n, top1=0.8) for n in (1, 2)]
    assert writer.figure_caption(None, records_of(tmp_path, rows), tmp_path).endswith(
        "1 base group in 1 split"
    )
    rows += [make_record("selffer", 1, top1=0.9, target="A", source="A")]  # and one towards A
    assert writer.figure_caption(None, records_of(tmp_path, rows), tmp_path).endswith(
        "2 base groups in 1 split"  # the split, not its groups, is the replicate
    )
    bases = [make_record(top1=0.9, target=t, seed=s) for t in "AB" for s in (0, 1)]
    assert writer.figure_caption(None, records_of(tmp_path, bases), tmp_path).endswith(
        "4 base groups in 1 split"  # base nets alone (a data-volume study): each its own
    )
    # Without the volume nets the same folder loses the stale volume files.
    write_results(tmp_path / "results.csv", main_study())
    folder = write_report_from_csv(tmp_path / "results.csv", tmp_path)
    assert not any((folder / name).exists() for name in VOLUME_FILES)
    assert "Not run: no half has base nets" in (folder / "index.html").read_text()
