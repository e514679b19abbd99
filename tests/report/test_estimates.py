"""The report's estimates view, from hand-made DIR/estimates/ files (fake_estimates.py): rows
only where defined, ranks only where resolved, the depth prior and the ceiling beside the
estimators, the transition cut, the sample sizes used, figures whose text can be read, CSVs
with a byte-order mark, the stale notes, and the paragraph when there are no estimates."""

from __future__ import annotations

import json
import shutil

import pytest
from fake_estimates import write_estimates
from matplotlib.figure import Figure
from matplotlib.text import Text

from featuretransfer.report.estimates import estimates_section, ranking, read_csv
from featuretransfer.report.estimates_html import ranking_cells, verdict


@pytest.fixture
def folder(tmp_path):
    estimates = tmp_path / "study" / "estimates"
    write_estimates(estimates, measured_jobs=["t1", "t2"])
    return estimates


@pytest.fixture
def report(tmp_path):
    folder = tmp_path / "report"
    folder.mkdir()
    return folder


RECORDS = [{"job_id": j, "treatment": "transfer"} for j in ("t1", "t2")]


def test_the_ranking_shows_defined_rows_only_and_ranks_only_what_is_resolved(folder):
    table = ranking(read_csv(folder / "agreement.csv"))
    anb = [r["estimator"] for r in table if r["treatment"] == "AnB"]
    assert anb == ["logme", "linear_probe", "depth_prior", "seed_to_seed"]  # no undefined rows
    anb_plus = [r["estimator"] for r in table if r["treatment"] == "AnB+"]
    assert anb_plus == ["logme", "linear_probe", "depth_prior"]  # its ceiling: not measured
    cells = {(c[0], c[1]): c for c in ranking_cells(table)}
    assert cells[("AnB", "LogME")][4] == "not resolved (1–2)"  # overlapping: no rank 1
    assert cells[("AnB", "LogME")][3] == "+0.05 [-0.02, +0.12]"  # minus the depth prior
    assert cells[("AnB", "depth prior (score = −n)")][4] == "—"
    assert cells[("AnB", "seed to seed")][2] == "+0.70 [+0.52, +0.88]"
    assert all("undefined" not in str(c) and "nan" not in str(c) for c in cells.values())


def test_a_resolved_order_is_ranked():
    rows = read_csv_rows([("logme", 0.9, 1, 1), ("linear_probe", 0.5, 2, 2), ("knn", 0.4, 3, 3)])
    table = ranking(rows)
    assert [r["rank"] for r in table if r["estimator"] != "depth_prior"] == ["1", "2", "3"]


def read_csv_rows(entries):
    nan = float("nan")
    rows = []
    for estimator, rho, best, worst in entries:
        rows.append(
            {"estimator": estimator, "treatment": "AnB", "scope": "pooled", "spearman": rho}
            | {"rank_best": best, "rank_worst": worst, "unit": "split", "n_units": 3.0}
        )
    rows.append(
        {"estimator": "depth_prior", "treatment": "AnB", "scope": "pooled", "spearman": 0.6}
        | {"rank_best": nan, "rank_worst": nan, "unit": "split", "n_units": 3.0}
    )
    return rows


def test_the_verdict_sets_the_best_estimator_beside_the_depth_prior_and_the_ceiling(folder):
    rows = [r for r in read_csv(folder / "agreement.csv") if r["scope"] == "pooled"]
    anb = [r for r in rows if r["treatment"] == "AnB"]
    text = verdict(anb, "AnB")
    assert text.startswith("AnB: the best estimator, LogME, ranks the cuts at ρ = +0.93")
    assert "the depth prior at ρ = +0.88 [+0.80, +0.96]" in text
    assert "No estimator is shown to rank the cuts better than the depth prior" in text
    assert "seed-to-seed agreement" in text and "+0.70 [+0.52, +0.88]" in text
    assert "not resolved" in text and "Units: 2 random splits" in text
    assert "Undefined (the score does not vary over the measured cuts): H-score, k-NN" in text
    plus = verdict([r for r in rows if r["treatment"] == "AnB+"], "AnB+")
    assert "not measured: one seed per group" in plus
    better = [r | {"versus_depth_low": 0.01} if r["estimator"] == "logme" else r for r in anb]
    assert "Better than the depth prior: LogME by +0.05 [+0.01, +0.12]" in verdict(better, "AnB")
    one_split = [r | {"unit": "seed", "n_units": 2.0} for r in anb]
    assert "claims are about that split only" in verdict(one_split, "AnB")
    assert "not measured" in verdict([], "BnB")


def test_the_section_prints_the_sample_sizes_used_not_the_configured_ones(folder, report):
    page = estimates_section(folder, report, RECORDS)
    assert "80 training images to fit on, 20 validation images" in page
    assert "2000" not in page  # the configured n_fit, which this small data set could not give
    assert "These are estimates, not measurements." in page and "Stale" not in page


def test_the_section_shows_the_transition_cut_beside_the_constant_guess(folder, report):
    page = estimates_section(folder, report, RECORDS)
    assert "The transition cut" in page and "within 1 point of top-1" in page
    assert "98.75%" in page  # 1 - 1/80: the tolerance, stated
    assert "<td>constant guess</td><td>3</td><td>3</td><td>3</td>" in page
    assert "not pinned down: cut 3 not measured" in page
    assert "The best constant guess in hindsight: cut 2 (exact)" in page


def test_figures_are_written_readable_and_stale_ones_removed(folder, report, monkeypatch):
    sizes, save = {}, Figure.savefig

    def savefig(fig, fname, *args, **kwargs):
        save(fig, fname, *args, **kwargs)
        points = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()]
        sizes[str(fname).rsplit("/", 1)[-1]] = (min(points), fig.get_size_inches()[0])

    monkeypatch.setattr(Figure, "savefig", savefig)
    (report / "cka_treatments.png").write_text("stale")
    page = estimates_section(folder, report, RECORDS)
    drawn = {"estimates_curves.png", "cka_halves.png", "cka_treatments.png"}
    assert drawn <= set(sizes)
    for name in drawn:
        smallest, width = sizes[name]
        assert smallest >= 7 and width <= 7.3, name  # 1095 px at 150 dpi: never shrunk
        assert f'src="{name}"' in page
    similarity = folder / "similarity.csv"
    kept = similarity.read_text()
    similarity.write_text(kept.splitlines()[0] + "\n")  # no maps at all
    try:
        page = estimates_section(folder, report, RECORDS)
    finally:
        similarity.write_text(kept)
    assert not (report / "cka_treatments.png").exists() and "cka_halves.png" not in page


def test_csvs_with_a_byte_order_mark_are_read(tmp_path, report):
    folder = tmp_path / "estimates"
    write_estimates(folder, measured_jobs=["t1", "t2"], bom=True)
    assert (folder / "scores.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    page = estimates_section(folder, report, RECORDS)
    assert "LogME" in page and "estimates_curves.png" in page
    assert read_csv(folder / "scores.csv")[0]["group"] == "s0:A->B#0"


def test_stale_agreement_and_a_changed_margin_are_flagged(folder, report):
    stale = estimates_section(folder, report, RECORDS + [{"job_id": "t3", "treatment": "transfer"}])
    assert "Stale" in stale and "3 measured" in stale
    (folder.parent / "study.json").write_text(json.dumps({"report": {"margin": 2.0}}))
    page = estimates_section(folder, report, RECORDS)
    assert "use a margin of 1.0 points, the study's [report] margin is now 2.0" in page


def test_estimates_made_before_the_transition_cut_say_to_rerun(folder, report):
    (folder / "transitions.csv").unlink()
    page = estimates_section(folder, report, RECORDS)
    assert "predate the transition cut" in page


def test_without_estimates_the_section_says_how_to_make_them(tmp_path, report):
    shutil.rmtree(tmp_path / "estimates", ignore_errors=True)
    page = estimates_section(tmp_path / "estimates", report, [])
    assert "featuretransfer estimate DIR" in page
