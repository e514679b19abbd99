"""Every bad-input path of a results table: a bad value names the file, row and column; a
missing column, an empty table and a table with only the documented columns."""

from __future__ import annotations

import csv

import pytest
from hand_tables import (
    COLUMNS,
    make_record,
    write_results,
)

from featuretransfer.report import results
from featuretransfer.report.results import ReportError, load_results
from featuretransfer.report.writer import write_report, write_report_from_csv


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
