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
import html
import json
import logging
from collections import defaultdict
from pathlib import Path

from featuretransfer import store
from featuretransfer.report import figures, volume
from featuretransfer.report.estimates import estimates_section
from featuretransfer.report.evidence import group_key
from featuretransfer.report.findings import (
    convergence_text,
    findings,
    findings_markdown,
    findings_note,
    is_source_study,
)
from featuretransfer.report.results import ReportError, load_results
from featuretransfer.report.tables import (
    DECOMPOSITION_COLUMNS,
    DECOMPOSITION_HEADER,
    DECOMPOSITION_NOTE,
    DEFAULT_RULES,
    TABLE1_COLUMNS,
    TABLE1_HEADER,
    TABLE1_NOTE,
    decomposition,
    decomposition_cells,
    for_source,
    main_records,
    n_layers,
    source_rows,
    table1,
    table1_cells,
    table1_markdown,
    transition_text,
)
from featuretransfer.specs import ReportSpec  # noqa: E402

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
    study = _read_study(out_dir / "study.json")
    rules = _rules((study or {}).get("report", {}), out_dir / "study.json")
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


def _rules(settings: dict, where: Path) -> ReportSpec:
    try:
        return ReportSpec(**settings)
    except TypeError as err:
        raise ReportError(f"{where}: bad report settings {settings!r} ({err})") from None


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
    nets = figures.filter_nets(records, weights_root)
    not_drawn = figures.plot_filters(nets[:MAX_FILTER_NETS], report_dir / "filters.png")
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
    views = {"findings": found, "volume": rows_v, "not_main": len(all_records) - len(records)}
    views["left_out"], views["words"] = list(left_out), words
    views["rules"], views["caption"] = rules, caption
    views["estimates"] = estimates_section(
        weights_root / "estimates", report_dir, all_records, rules.noise
    )
    page = _index_html(all_records, study, source, rows1, rows_d, not_drawn, views)
    (report_dir / "index.html").write_text(page, encoding="utf-8")
    log.info("wrote the report of %d records to %s", len(all_records), report_dir)
    return report_dir


def volume_caption(study: dict | None, records: list[dict], source: Path) -> str:
    """The data-volume figure's caption: the base nets it draws and how their schedule was set."""
    nets = [r for nets in volume.volume_nets(records).values() for r in nets]
    caption = figure_caption(study, nets, source) if nets else ""
    schedule = ((study or {}).get("volume") or {}).get("schedule")
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


def _read_study(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(study, dict):
        raise ReportError(f"{path}: expected a JSON object of study settings")
    return study


def _write_csv(path: Path, columns: tuple, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})


FINDINGS_HEADER = ["", "observation of Yosinski et al. (2014)", "verdict", "the numbers", "rule"]
SOURCE_FINDINGS_HEADER = ["", "question", "answer", "the numbers", "rule"]
FINDING_KEYS = ("number", "claim", "verdict", "text", "rule")


def _html_table(header: list[str], rows: list[list]) -> str:
    body = "".join(f"<tr>{_html_cells('td', row)}</tr>\n" for row in rows)
    return f"<table>\n<tr>{_html_cells('th', header)}</tr>\n{body}</table>"


def _html_cells(tag: str, row: list) -> str:
    return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)


def figure_caption(study: dict | None, records: list[dict], source: Path) -> str:
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
    if not study:
        where = f"{Path(source).name}: {len(records)} nets"
        seeds_text = ", ".join(map(str, seeds)) or "—"
        return f"{where}; splits {split_text or '—'}; seeds {seeds_text}; {counted}"
    data, net, train = (
        study.get(k) if isinstance(study.get(k), dict) else {} for k in ("data", "net", "train")
    )
    parts = [f"Study {study.get('name', '?')}"]
    if "name" in data:
        k = data.get("n_train_per_class") or 0
        parts.append(data["name"] + (f", {k} images per class" if k else ""))
    if "name" in net:
        # only the built-in nets have a width; a user's model ("module:factory", "hf:FOLDER":
        # nets/units.is_user_model, which the report may not import) has its own arguments
        user = ":" in net["name"]
        parts.append(net["name"] if user else f"{net['name']} width {net.get('width', '?')}")
    if "epochs" in train:
        steps = f" ({train['steps']} steps)" if train.get("steps") else ""
        precision = f", {train['precision']}" if train.get("precision") else ""
        parts.append(f"{train['epochs']} epochs{steps}{precision}")
    parts += [f"seeds {', '.join(map(str, seeds)) or '—'}", f"splits {split_text or '—'}"]
    return "; ".join([*parts, counted])


def chance(study: dict | None) -> tuple[float, ...]:
    """1 / classes of each half of the study's splits (none known for a table made elsewhere)."""
    halves = [s[h] for s in _split_entries(study) for h in ("A", "B") if s.get(h)]
    return tuple(sorted({1 / len(classes) for classes in halves}))


def _split_entries(study: dict | None) -> list[dict]:
    """study.json's splits as a run writes them (a study.json made by hand may differ)."""
    splits = (study or {}).get("splits")
    ok = isinstance(splits, list) and all(
        isinstance(s, dict) and isinstance(s.get("A"), list) and isinstance(s.get("B"), list)
        for s in splits
    )
    return splits if ok else []


def _splits_text(study: dict) -> str:
    """Each split's halves by class name (study.json's class_names), not by index."""
    names = study.get("class_names") or []
    parts = []
    if not _split_entries(study):
        return json.dumps(study.get("splits"), sort_keys=True)
    for split in _split_entries(study):
        halves = [
            f"{h} = {', '.join(names[c] if c < len(names) else str(c) for c in split[h])}"
            for h in ("A", "B")
        ]
        parts.append(f"{split.get('name')} ({split.get('kind')}): {'; '.join(halves)}")
    return " | ".join(parts)


def _index_html(records, study, source, rows1, rows_d, not_drawn, views: dict) -> str:
    words = views["words"]  # the paper's words, or a pretrained source study's (for_source)
    study_name = (study or {}).get("name") or (records[0].get("study") if records else "")
    name = html.escape(str(study_name or "a study"))
    counts = defaultdict(int)
    for r in records:
        # base nets by the half they learnt (baseA, baseB); treatments by the paper's labels
        label = f"base{r['target']}" if r["treatment"] == "base" else r["label"]
        counts[(r["split_kind"], label, r["n_train_per_class"], r["status"])] += 1
    # Images per class rising, 0 (every image) last and shown as "all".
    order = sorted(counts, key=lambda key: (key[:2], key[2] == 0, key[2], key[3]))
    counts_cells = [
        [kind, label, k or "all", status, counts[kind, label, k, status]]
        for kind, label, k, status in order
    ]
    if study:
        rows = [
            [k, _splits_text(study) if k == "splits" else json.dumps(v, sort_keys=True)]
            for k, v in study.items()
            if k != "class_names"
        ]
        settings = _html_table(["setting", "value"], rows)
    else:
        settings = f"<p>No study.json: built from {html.escape(str(source))}.</p>"
    parts = [
        f"<h1>How transferable are features? Report of {name}</h1>",
        f"<p>{html.escape(str((study or {}).get('description', '')))}</p>",
        f"<p>{len(records)} records from {html.escape(str(source))}; L = {n_layers(records)} "
        "transferable layers. "
        + (
            "Notation of Yosinski et al. (2014): AnA is counted as BnB and BnA as AnB"
            if words is str
            else "SnB: units 1..n from the pretrained source; BnB: from the target's own base net"
        )
        + f"; + means fine-tuned.{_not_main_note(views['not_main'])}</p>",
        *_mixed_runtime_html(records),
        *_left_out_html(views["left_out"]),
        "<h2>Findings: "
        + ("a pretrained source on this target" if words is not str else "the paper's observations")
        + " in these records</h2>",
        f"<p>{html.escape(convergence_text(records, views['rules']))}</p>",
        _html_table(
            FINDINGS_HEADER if words is str else SOURCE_FINDINGS_HEADER,
            [[f[k] for k in FINDING_KEYS] for f in views["findings"]],
        ),
        f"<p>{html.escape(findings_note(views['rules']))} File: "
        "<a href='findings.md'>findings.md</a>.</p>",
        "<h2>Settings</h2>",
        settings,
        "<h2>Networks</h2>",
        _html_table(["split kind", "network", "images per class", "status", "count"], counts_cells),
        f"<h2>{words('Figure 2: random A/B splits')}</h2>",
        '<img src="figure2.png" alt="Figure 2">',
        f"<p>{html.escape(views['caption'])}. <a href='figure2.svg'>SVG</a></p>",
        "<h2>Figure 3: dissimilar split, random weights, normalised</h2>",
        '<img src="figure3.png" alt="Figure 3">',
        f"<p>{html.escape(views['caption'])}. <a href='figure3.svg'>SVG</a></p>",
        f"<h2>{words('Table 1: performance boost of AnB+ over controls')}</h2>",
        _html_table([words(h) for h in TABLE1_HEADER], table1_cells(rows1)),
        f"<p>{html.escape(words(TABLE1_NOTE))} Files: <a href='table1.csv'>table1.csv</a>, "
        "<a href='table1.md'>table1.md</a>.</p>",
        "<h2>Decomposition of the frozen-transfer drop</h2>",
        _html_table(
            [words(h) for h in DECOMPOSITION_HEADER],
            [[words(str(c)) for c in row] for row in decomposition_cells(rows_d)],
        ),
        f"<p>{html.escape(words(transition_text(rows_d, views['rules'])))}</p>",
        f"<p>{html.escape(words(DECOMPOSITION_NOTE))} File: "
        "<a href='decomposition.csv'>decomposition.csv</a>.</p>",
        "<h2>Data volume: base nets trained on k images per class</h2>",
        _volume_html(views["volume"]),
        "<h2>Estimates: predicting the transfer curve cheaply</h2>",
        views["estimates"],
        "<h2>First-layer filters of the base nets</h2>",
        '<img src="filters.png" alt="First-layer filters of the base nets">',
    ]
    if not_drawn:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in not_drawn)
        parts.append(f"<p>Not drawn:</p><ul>{items}</ul>")
    if diverged := [r for r in records if r["status"] == "diverged"]:
        header = ["row", "job", "split", "network", "n", "seed"]
        rows = [
            [r["row"], r.get("job_id", ""), r["split"], r["label"], r["n_copied"], r["seed"]]
            for r in diverged
        ]
        parts += ["<h2>Diverged networks (left out of every mean)</h2>", _html_table(header, rows)]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}"
        "img{max-width:100%}"
    )
    head = f"<meta charset='utf-8'><title>{name}: report</title><style>{style}</style>"
    body = "\n".join(parts)
    return f"<!doctype html>\n<html><head>{head}</head><body>\n{body}\n</body></html>\n"


def _left_out_html(left_out: list[str]) -> list[str]:
    """Planned nets that finished but cannot be read (damaged, stale): said at the top."""
    if not left_out:
        return []
    items = "".join(f"<li>{html.escape(p)}</li>" for p in left_out)
    return [f"<p><b>Left out of this report</b> ({len(left_out)} nets):</p><ul>{items}</ul>"]


def _mixed_runtime_html(records: list[dict]) -> list[str]:
    """A warning where nets trained under different threads, devices or stacked passes: their
    numbers are not those one rerun under a single setting gives (docs/running.md)."""
    mixed = store.runtime_mix(records)
    if not mixed:
        return []
    said = "; ".join(
        f"{key} " + ", ".join(f"{value} ({count} nets)" for value, count in counts.items())
        for key, counts in mixed.items()
    )
    return [
        f"<p><b>Mixed training settings</b>: {html.escape(said)}. Each net's numbers come "
        "back bit for bit only under its own setting; across settings they agree to float "
        "tolerance.</p>"
    ]


def _not_main_note(count: int) -> str:
    if not count:
        return ""
    return (
        f" {count} networks trained on another number of images per class than the treatments "
        "(the data-volume base nets) are left out of all but the data-volume view."
    )


def _volume_html(rows: list[dict] | None) -> str:
    if rows is None:
        return (
            "<p>Not run: no half has base nets trained on two or more numbers of images per "
            "class. The experiment trains base nets on several k (n_train_per_class) and "
            "compares their test and train top-1.</p>"
        )
    header = list(volume.VOLUME_HEADER)
    return (
        '<img src="volume.png" alt="Top-1 against training images per class">'
        '<p><a href="volume.svg">SVG</a></p>\n'
        + _html_table(header, volume.volume_cells(rows))
        + f"<p>{html.escape(volume.VOLUME_NOTE)} Files: <a href='volume.csv'>volume.csv</a>, "
        "<a href='volume.md'>volume.md</a>.</p>"
    )
