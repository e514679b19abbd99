"""The report's files: all written and shown, a golden run on the fake store in tests/report/,
the first-layer filters, Figure 2's base nets, and the data-volume view kept apart from the main
one."""

from __future__ import annotations

import csv
import shutil
import statistics
import sys

import pytest
from hand_tables import (
    COLUMNS,
    DATA,
    REPORT_FILES,
    VOLUME_FILES,
    anb_plus,
    bnb_plus,
    ci95,
    make_record,
    records_of,
    write_results,
)

from featuretransfer.report import figures, filters, table_text, tables, volume, writer
from featuretransfer.report.results import ReportError, load_results
from featuretransfer.report.tables import table1
from featuretransfer.report.writer import write_report_from_csv


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


def test_the_page_says_why_base_nets_trained_longer_are_left_out(tmp_path):
    """A convergence check's longer base nets are not data-volume nets: the page says which is
    which (it once called 5 longer baseB nets "trained on another number of images")."""
    rows = [make_record(top1=0.6, target=t) for t in "AB"]
    rows += [make_record(top1=0.61, target="B", role="longer", job_id="longerB")]
    rows += [make_record(top1=0.5, target="B", role="volume", n_train_per_class=10)]
    rows += [make_record("transfer", n, top1=0.55) for n in (1, 2)]
    write_results(tmp_path / "results.csv", rows, columns=(*COLUMNS, "role"))
    page = (write_report_from_csv(tmp_path / "results.csv", tmp_path) / "index.html").read_text()
    assert "1 base nets trained longer than the others (the convergence check)" in page
    assert "1 networks trained on another number of images per class" in page


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
    first = filters.first_layer_weight(path)
    assert first.shape == (2, 1, 3, 3) and first.min() == 1.0
    mosaic = filters.filter_mosaic(first)
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
    assert table_text.table1_markdown(rows1) == table_text.table1_markdown(table1(plain))
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
