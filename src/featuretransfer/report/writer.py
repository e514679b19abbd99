"""The report of a layer-transfer study, built from its finished records alone.

Reads and checks DIR/results.csv (one row per finished job) and DIR/study.json if present, and
writes DIR/report/: Figures 2 and 3 of Yosinski et al. (2014) and the first-layer filters of the
base nets (figures.py), Table 1 (the AnB+ boost) and the co-adaptation / specificity decomposition
per cut (tables.py) as CSV and Markdown, the paper's observations in words with their verdicts
(findings.py, findings.md), the data-volume experiment where the study ran one (volume.py), and an
index.html that shows all of it with the study's settings. Everything but the data-volume view
uses only the networks trained on the treatments' number of images per class (main_records).

    featuretransfer report DIR                             # a study folder made by `run`
    featuretransfer report --results FILE.csv --out DIR    # a table made elsewhere

A results table needs the columns split, source, target, treatment, n_copied, fine_tune, top1; the
optional ones are described in results.load_results. Notation follows the paper: AnA is counted
as BnB and BnA as AnB, whichever half is the target. Never imports training code.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from featuretransfer import store
from featuretransfer.report import figures, filters, volume
from featuretransfer.report.estimates import estimates_section
from featuretransfer.report.evidence import group_key
from featuretransfer.report.findings import findings, findings_markdown, is_source_study
from featuretransfer.report.page import index_html
from featuretransfer.report.results import ReportError, load_results
from featuretransfer.report.table_text import (
    for_source,
    source_rows,
    table1_markdown,
)
from featuretransfer.report.tables import (
    DECOMPOSITION_COLUMNS,
    DEFAULT_RULES,
    TABLE1_COLUMNS,
    decomposition,
    main_records,
    n_layers,
    table1,
)
from featuretransfer.specs import ReportSpec
from featuretransfer.studyinfo import StudyInfo, StudyInfoError, read_study_info

log = logging.getLogger(__name__)

MAX_FILTER_NETS = 16  # base nets in filters.png; more would give unreadably small tiles


def write_report(out_dir: Path) -> Path:
    """Write out_dir/report/ for a study's output folder, from its plan (out_dir/plan.json) and
    its nets' records, as `run` builds results.csv: results.csv is written anew from them first,
    so a damaged net never enters the report through a stale row, and a missing results.csv is
    rebuilt. Damaged and stale nets are left out and listed. out_dir/study.json says how
    verdicts are decided (its "report" settings). A table made elsewhere goes through
    write_report_from_csv."""
    out_dir = Path(out_dir)
    plan = store.read_plan(out_dir)
    if plan is None:
        raise ReportError(
            f"{out_dir} holds no study (no {store.PLAN}): give a folder made by 'run', or a "
            "table made elsewhere with --results FILE.csv --out DIR"
        )
    results = store.write_results_csv(out_dir, plan)
    states = store.states(out_dir, plan)
    left_out = [
        f"{e['name']} ({e['id']}): {states[e['id']]}, {LEFT_OUT[states[e['id']]]}"
        for e in plan
        if states[e["id"]] in LEFT_OUT
    ]
    for line in left_out:
        log.warning("report: left out %s", line)
    try:
        study = read_study_info(out_dir / "study.json")
    except StudyInfoError as err:
        raise ReportError(str(err)) from None
    rules = study.report if study else DEFAULT_RULES
    records = load_results(results)
    return _build(records, study, results, out_dir, out_dir / "report", rules, left_out)


# why a planned net that finished is not in the report
LEFT_OUT = {
    store.DAMAGED: "its record or weights cannot be read; the next 'run' redoes it",
    store.STALE: "it copied a parent since redone into other weights; the next 'run' redoes it",
}


def write_report_from_csv(
    results_csv: Path, out_dir: Path, n_layers: int | None = None, rules: ReportSpec = DEFAULT_RULES
) -> Path:
    """Check a results table made elsewhere and write out_dir/report/ from it.

    Weight paths in the table are read relative to the table's folder. `n_layers`: L, for a
    table without an n_layers column.
    """
    results_csv = Path(results_csv)
    records = load_results(results_csv, n_layers)
    return _build(records, None, results_csv, results_csv.parent, Path(out_dir) / "report", rules)


# --- files ----------------------------------------------------------------------------------


def _build(
    all_records, study, source: Path, weights_root: Path, report_dir: Path, rules, left_out=()
) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    # Base nets of a data-volume study trained on other k are no baseB: only the volume view
    # sees them.
    records = main_records(all_records)
    top = n_layers(records)
    caption = figure_caption(study, records, source)
    # a pretrained source's study in its own words: SnB, the target split, the source gap
    words = for_source if is_source_study(records) else str
    series = figures.figure2_series(records, rules)
    title = words("Figure 2: random A/B splits")
    figures.plot_figure2(series, top, report_dir / "figure2", caption, title)
    figures.plot_figure3(
        *figures.figure3_series(records), top, report_dir / "figure3", caption, chance(study)
    )
    nets = filters.filter_nets(records, weights_root)
    not_drawn = filters.plot_filters(nets[:MAX_FILTER_NETS], report_dir / "filters.png")
    not_drawn += [
        f"{title}: only {MAX_FILTER_NETS} nets are drawn" for title, _ in nets[MAX_FILTER_NETS:]
    ]
    rows1, rows_d = table1(records, rules), decomposition(records, rules)
    found = findings(all_records, rules)  # with the longer base nets: the convergence check
    columns, csv_rows = DECOMPOSITION_COLUMNS, rows_d
    if words is for_source:
        csv_rows = source_rows(rows_d)
        columns = tuple(c.replace("specificity", "source_gap") for c in columns)
    _write_csv(report_dir / "table1.csv", TABLE1_COLUMNS, rows1)
    _write_csv(report_dir / "decomposition.csv", columns, csv_rows)
    (report_dir / "table1.md").write_text(words(table1_markdown(rows1)), encoding="utf-8")
    (report_dir / "findings.md").write_text(findings_markdown(found, rules), encoding="utf-8")
    rows_v = _write_volume(all_records, report_dir, volume_caption(study, all_records, source))
    longer = sum(r.get("role") == "longer" for r in all_records)
    not_main = {"longer": longer, "volume": len(all_records) - len(records) - longer}
    views = {"findings": found, "volume": rows_v, "not_main": not_main}
    views["left_out"], views["words"] = list(left_out), words
    views["rules"], views["caption"] = rules, caption
    views["estimates"] = estimates_section(
        weights_root / "estimates", report_dir, all_records, rules.noise
    )
    page = index_html(all_records, study, source, rows1, rows_d, not_drawn, views)
    (report_dir / "index.html").write_text(page, encoding="utf-8")
    log.info("wrote the report of %d records to %s", len(all_records), report_dir)
    return report_dir


def volume_caption(study: StudyInfo | None, records: list[dict], source: Path) -> str:
    """The data-volume figure's caption: the base nets it draws and how their schedule was set."""
    nets = [r for nets in volume.volume_nets(records).values() for r in nets]
    caption = figure_caption(study, nets, source) if nets else ""
    schedule = study.volume_schedule if study else ""
    if caption and schedule == "steps":
        caption += "; every k trained for the same number of steps as on all images"
    elif caption and schedule == "epochs":
        caption += "; every k trained for the same number of epochs (fewer steps for small k)"
    return caption


def _write_volume(records: list[dict], report_dir: Path, caption: str = "") -> list[dict] | None:
    """report/volume.* when a half has base nets on two or more k; else None, no stale files."""
    stem = report_dir / "volume"
    if not (rows := volume.volume_rows(records)):
        for suffix in (".png", ".svg", ".csv", ".md"):
            stem.with_suffix(suffix).unlink(missing_ok=True)
        return None
    volume.plot_volume(records, stem, caption)
    _write_csv(stem.with_suffix(".csv"), volume.VOLUME_COLUMNS, rows)
    stem.with_suffix(".md").write_text(volume.volume_markdown(rows), encoding="utf-8")
    return rows


def _write_csv(path: Path, columns: tuple, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


def figure_caption(study: StudyInfo | None, records: list[dict], source: Path) -> str:
    """What a figure shows, in one line: study, data, model, schedule, seeds, splits, groups."""

    # a base group is a target's base net with the nets trained against it (baseA of a study
    # towards B only is a source, not a group); a study of base nets alone counts its nets
    groups = {group_key(r) for r in records if r["treatment"] != "base"} or {
        group_key(r) for r in records if r["treatment"] == "base"
    }
    splits = sorted({(r["split"], r["split_kind"]) for r in records})
    split_text = ", ".join(f"{name} ({kind})" for name, kind in splits)
    seeds = sorted({r["seed"] for r in records if r.get("seed") is not None})
    counted = f"{len(groups)} base group" + ("" if len(groups) == 1 else "s")
    n_splits = len({g[0] for g in groups})
    counted += f" in {n_splits} split" + ("" if n_splits == 1 else "s")
    if study is None:
        where = f"{Path(source).name}: {len(records)} nets"
        seeds_text = ", ".join(map(str, seeds)) or "—"
        return f"{where}; splits {split_text or '—'}; seeds {seeds_text}; {counted}"
    data, net, train = study.data, study.net, study.train
    k = data.n_train_per_class
    parts = [f"Study {study.name or '?'}", data.name + (f", {k} images per class" if k else "")]
    # only the built-in nets have a width; a user's model ("module:factory", "hf:FOLDER":
    # nets/units.is_user_model, which the report may not import) has its own arguments
    parts.append(net.name if ":" in net.name else f"{net.name} width {net.width:g}")
    steps = f" ({train.steps} steps)" if train.steps else ""
    precision = f", {train.precision}" if train.precision != "auto" else ""
    parts.append(f"{train.epochs} epochs{steps}{precision}")
    parts += [f"seeds {', '.join(map(str, seeds)) or '—'}", f"splits {split_text or '—'}"]
    return "; ".join([*parts, counted])


def chance(study: StudyInfo | None) -> tuple[float, ...]:
    """1 / classes of each half of the study's splits (none known for a table made elsewhere)."""
    halves = [s.classes(h) for s in (study.splits if study else ()) for h in ("A", "B")]
    return tuple(sorted({1 / len(classes) for classes in halves if classes}))
