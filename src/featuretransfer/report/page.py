"""The report's web page, index.html: every table and figure of report/ with the study's
settings, written from what writer.py computed. html_table is the one HTML table of the report
(the estimates section draws its tables with it too)."""

from __future__ import annotations

import html
import json
from collections import defaultdict

from featuretransfer import store
from featuretransfer.report import volume
from featuretransfer.report.findings import convergence_text, findings_note
from featuretransfer.report.table_text import (
    DECOMPOSITION_HEADER,
    DECOMPOSITION_NOTE,
    TABLE1_HEADER,
    TABLE1_NOTE,
    decomposition_cells,
    table1_cells,
    transition_text,
)
from featuretransfer.report.tables import (
    n_layers,
)
from featuretransfer.studyinfo import StudyInfo

FINDINGS_HEADER = ["", "observation of Yosinski et al. (2014)", "verdict", "the numbers", "rule"]
SOURCE_FINDINGS_HEADER = ["", "question", "answer", "the numbers", "rule"]
FINDING_KEYS = ("number", "claim", "verdict", "text", "rule")


def html_table(header: list[str], rows: list[list]) -> str:
    body = "".join(f"<tr>{html_cells('td', row)}</tr>\n" for row in rows)
    return f"<table>\n<tr>{html_cells('th', header)}</tr>\n{body}</table>"


def html_cells(tag: str, row: list) -> str:
    return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)


def _splits_text(study: StudyInfo) -> str:
    """Each split's halves by class name (study.json's class_names), not by index."""
    names = study.class_names
    parts = []
    for split in study.splits:
        halves = [
            f"{h} = {', '.join(names[c] if c < len(names) else str(c) for c in split.classes(h))}"
            for h in ("A", "B")
        ]
        parts.append(f"{split.name} ({split.kind}): {'; '.join(halves)}")
    return " | ".join(parts)


def index_html(
    records, study: StudyInfo | None, source, rows1, rows_d, not_drawn, views: dict
) -> str:
    words = views["words"]  # the paper's words, or a pretrained source study's (for_source)
    study_name = (study.name if study else "") or (records[0].get("study") if records else "")
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
            for k, v in study.settings.items()
            if k != "class_names"
        ]
        settings = html_table(["setting", "value"], rows)
    else:
        settings = f"<p>No study.json: built from {html.escape(str(source))}.</p>"
    parts = [
        f"<h1>How transferable are features? Report of {name}</h1>",
        f"<p>{html.escape(study.description if study else '')}</p>",
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
        html_table(
            FINDINGS_HEADER if words is str else SOURCE_FINDINGS_HEADER,
            [[f[k] for k in FINDING_KEYS] for f in views["findings"]],
        ),
        f"<p>{html.escape(findings_note(views['rules']))} File: "
        "<a href='findings.md'>findings.md</a>.</p>",
        "<h2>Settings</h2>",
        settings,
        "<h2>Networks</h2>",
        html_table(["split kind", "network", "images per class", "status", "count"], counts_cells),
        f"<h2>{words('Figure 2: random A/B splits')}</h2>",
        '<img src="figure2.png" alt="Figure 2">',
        f"<p>{html.escape(views['caption'])}. <a href='figure2.svg'>SVG</a></p>",
        "<h2>Figure 3: dissimilar split, random weights, normalised</h2>",
        '<img src="figure3.png" alt="Figure 3">',
        f"<p>{html.escape(views['caption'])}. <a href='figure3.svg'>SVG</a></p>",
        f"<h2>{words('Table 1: performance boost of AnB+ over controls')}</h2>",
        html_table([words(h) for h in TABLE1_HEADER], table1_cells(rows1)),
        f"<p>{html.escape(words(TABLE1_NOTE))} Files: <a href='table1.csv'>table1.csv</a>, "
        "<a href='table1.md'>table1.md</a>.</p>",
        "<h2>Decomposition of the frozen-transfer drop</h2>",
        html_table(
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
        parts += ["<h2>Diverged networks (left out of every mean)</h2>", html_table(header, rows)]
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


def _not_main_note(count: dict[str, int]) -> str:
    """What the main view leaves out, by why: base nets trained longer (the convergence check)
    and base nets trained on another number of images per class (the data-volume view)."""
    note = ""
    if count["longer"]:
        note += (
            f" {count['longer']} base nets trained longer than the others (the convergence "
            "check) enter only the findings' convergence test."
        )
    if count["volume"]:
        note += (
            f" {count['volume']} networks trained on another number of images per class than "
            "the treatments (the data-volume base nets) are left out of all but the data-volume "
            "view."
        )
    return note


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
        + html_table(header, volume.volume_cells(rows))
        + f"<p>{html.escape(volume.VOLUME_NOTE)} Files: <a href='volume.csv'>volume.csv</a>, "
        "<a href='volume.md'>volume.md</a>.</p>"
    )
