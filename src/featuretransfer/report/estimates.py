"""The report's view of DIR/estimates/ (written by `featuretransfer estimate`): how well each
estimator ranks the cuts beside the depth prior and the seed-to-seed ceiling, the transition
cut, a plain verdict, the estimated and measured curves on one axis, and the CKA maps beside
their baselines.

Reads the files only (scores.csv, agreement.csv, transitions.csv, transition_hits.csv,
similarity.csv, summary.json; see analysis/estimate.py for their columns), never the code that
made them: every number and rank here was decided there. `estimates_section` writes the
figures (estimates_figures.py) and report/estimates_ranking.{md,csv}, and returns the HTML
section for index.html (estimates_html.py); without DIR/estimates/ it returns a paragraph
saying how to make them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from featuretransfer.report.estimates_figures import (
    ESTIMATORS,
    plot_curves,
    plot_halves,
    plot_treatments,
    remove_stale,
)
from featuretransfer.report.estimates_html import (
    CEILING,
    DEPTH_PRIOR,
    RANKING_HEADER,
    TREATMENTS,
    agreement_html,
    figures_html,
    intro_html,
    ranking_cells,
    transition_html,
)
from featuretransfer.report.results import ReportError, _read_text
from featuretransfer.report.tables import DEFAULT_RULES, NAN, markdown_table
from featuretransfer.studyinfo import StudyInfoError, read_study_info

RANKING_COLUMNS = ("treatment", "estimator", "unit", "n_units", "n_groups", "n_points")
RANKING_COLUMNS += ("spearman", "spearman_low", "spearman_high", "kendall", "kendall_p")
RANKING_COLUMNS += ("versus_depth", "versus_depth_low", "versus_depth_high", "rank")
NUMBERS = (*ESTIMATORS, "measured_top1", "measured_top1_plus", "cka", "n", "n_groups")
NUMBERS += ("n_points", "n_units", "spearman", "spearman_low", "spearman_high", "kendall")
NUMBERS += ("kendall_low", "kendall_high", "kendall_p", "versus_depth", "versus_depth_low")
NUMBERS += ("versus_depth_high", "base_top1", "tolerance", "exact", "within_one")
NUMBERS += ("seed", "rank_best", "rank_worst", "measured")


def estimates_section(
    folder: Path, report_dir: Path, records: list[dict], noise: float = DEFAULT_RULES.noise
) -> str:
    """Figures and ranking files in report_dir, and the HTML of the estimates section; `noise`:
    the seed-to-seed spread of one net's top-1 in points (the study's [report] noise)."""
    if not (folder / "scores.csv").is_file():
        remove_stale(report_dir, set())
        return (
            "<p>No estimates in this folder. <code>featuretransfer estimate DIR</code> trains "
            "only the base nets (or reads them from a finished study) and scores the frozen "
            "features of every cut with four transferability estimators, in a fraction of the "
            "study's time.</p>"
        )
    scores = read_csv(folder / "scores.csv")
    agreement = read_csv(folder / "agreement.csv")
    similarity = read_csv(folder / "similarity.csv")
    transitions = read_csv(folder / "transitions.csv", missing_ok=True)
    hits = read_csv(folder / "transition_hits.csv", missing_ok=True)
    summary = read_summary(folder / "summary.json")
    drawn = {
        "estimates_curves": plot_curves(scores, report_dir / "estimates_curves"),
        "cka_halves": plot_halves(similarity, report_dir / "cka_halves"),
        "cka_treatments": plot_treatments(similarity, report_dir / "cka_treatments"),
    }
    remove_stale(report_dir, {name for name, what in drawn.items() if what})
    table = ranking(agreement)
    write_ranking(table, report_dir)
    study_margin = read_margin(folder.parent / "study.json")
    parts = [intro_html(summary, records, study_margin, folder)]
    parts += agreement_html(table, agreement, scores, noise)
    parts += transition_html(transitions, hits, summary, (folder / "transitions.csv").is_file())
    parts += figures_html(drawn, summary)
    return "\n".join(parts)


def read_csv(path: Path, missing_ok: bool = False) -> list[dict]:
    """Rows with the numeric columns as floats (empty: nan); UTF-8 with or without a byte-order
    mark, anything else refused in one line (report/results.py)."""
    if not path.is_file():
        if missing_ok:
            return []
        raise ReportError(f"{path}: missing; run `featuretransfer estimate` on the folder again")
    rows = list(csv.DictReader(io.StringIO(_read_text(path), newline="")))
    for i, row in enumerate(rows, 1):
        for key in NUMBERS:
            if key in row:
                try:
                    row[key] = float(row[key]) if row[key] else NAN
                except ValueError:
                    raise ReportError(f"{path}: row {i}, column {key!r}: not a number") from None
    return rows


def read_summary(path: Path) -> dict:
    try:
        return json.loads(_read_text(path))
    except (ReportError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot be read ({e}); run `featuretransfer estimate`") from None


def read_margin(path: Path) -> float:
    """The study's [report] margin from study.json, nan where there is none."""
    try:
        study = read_study_info(path)
    except StudyInfoError:
        return NAN
    return study.report.margin if study else NAN


# --- the ranking ----------------------------------------------------------------------------


def ranking(agreement: list[dict]) -> list[dict]:
    """The pooled rows that are defined, per treatment: the estimators by Spearman's rho (best
    first), then the depth prior and the ceiling; `rank` is the rank the paired differences
    resolve, or "not resolved (best-worst)"."""
    table = []
    for name in TREATMENTS:
        rows = [
            r
            for r in agreement
            if r.get("scope") == "pooled"
            and r["treatment"] == name
            and math.isfinite(r["spearman"])
        ]
        estimators = sorted(
            (r for r in rows if r["estimator"] in ESTIMATORS), key=lambda r: -r["spearman"]
        )
        others = [r for k in (DEPTH_PRIOR, CEILING) for r in rows if r["estimator"] == k]
        for r in estimators + others:
            table.append({k: r.get(k, NAN) for k in RANKING_COLUMNS} | {"rank": rank_text(r)})
    return table


def rank_text(row: dict) -> str:
    best, worst = row.get("rank_best", NAN), row.get("rank_worst", NAN)
    if row["estimator"] not in ESTIMATORS or not math.isfinite(best):
        return ""
    if best == worst:
        return str(int(best))
    return f"not resolved ({int(best)}–{int(worst)})"


def write_ranking(table: list[dict], report_dir: Path) -> None:
    with (report_dir / "estimates_ranking.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RANKING_COLUMNS)
        writer.writeheader()
        for row in table:
            writer.writerow(
                {
                    k: "" if v != v else f"{v:.4f}" if isinstance(v, float) else v
                    for k, v in row.items()
                }
            )
    lines = markdown_table(RANKING_HEADER, ranking_cells(table))
    (report_dir / "estimates_ranking.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
