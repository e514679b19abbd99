"""The report's view of DIR/estimates/ (written by `featuretransfer estimate`): estimated against
measured transfer curves, the estimator ranking, a plain verdict, and the CKA heat maps.

Reads the files only (scores.csv, agreement.csv, similarity.csv, summary.json; see
analysis/estimate.py for their columns), never the code that made them. `estimates_section`
writes the figures and report/estimates_ranking.{md,csv} and returns the HTML section for
index.html; without DIR/estimates/ it returns a paragraph saying how to make them.
"""

from __future__ import annotations

import csv
import html
import json
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from featuretransfer.report.figures import STYLES, save_figure  # noqa: E402
from featuretransfer.report.results import ReportError  # noqa: E402
from featuretransfer.report.tables import DEFAULT_RULES, NAN  # noqa: E402

ESTIMATORS = ("logme", "hscore", "linear_probe", "knn")
NAMES = {"logme": "LogME", "hscore": "H-score", "linear_probe": "linear probe", "knn": "k-NN"}
ROLES = {"transfer": ("AnB", "AnB+"), "selffer": ("BnB", "BnB+")}
RANKING_COLUMNS = ("rank", "estimator", "role", "treatment", "n_groups", "n_points")
RANKING_COLUMNS += ("spearman", "spearman_low", "spearman_high")
RANKING_COLUMNS += ("kendall", "kendall_low", "kendall_high", "kendall_p")
MAX_MAPS = 4  # heat maps per kind; more groups are listed as not drawn
WELL, ROUGHLY = 0.8, 0.5  # Spearman's rho above which an estimator "predicts" the curve
NUMBERS = (*ESTIMATORS, "measured_top1", "measured_top1_plus", "cka", "n", "n_groups")
NUMBERS += ("n_points", "spearman", "spearman_low", "spearman_high", "kendall", "kendall_low")
NUMBERS += ("kendall_high", "kendall_p")


def estimates_section(
    folder: Path, report_dir: Path, records: list[dict], noise: float = DEFAULT_RULES.noise
) -> str:
    """Figures and ranking files in report_dir, and the HTML of the estimates section; `noise`:
    the seed-to-seed spread of one net's top-1 in points (the study's [report] noise)."""
    if not (folder / "scores.csv").is_file():
        return (
            "<p>No estimates in this folder. <code>featuretransfer estimate DIR</code> trains "
            "only the base nets (or reads them from a finished study) and scores the frozen "
            "features of every cut with four transferability estimators, in a fraction of the "
            "study's time.</p>"
        )
    scores = read_csv(folder / "scores.csv")
    agreement = read_csv(folder / "agreement.csv")
    similarity = read_csv(folder / "similarity.csv")
    summary = read_summary(folder / "summary.json")
    plot_curves(scores, report_dir / "estimates_curves")
    maps = {kind: plot_maps(similarity, kind, report_dir / f"cka_{kind}") for kind in MAP_KINDS}
    table = ranking(agreement)
    write_ranking(table, report_dir)
    return section_html(scores, table, maps, summary, records, noise)


def read_csv(path: Path) -> list[dict]:
    """Rows with the numeric columns as floats (empty: nan)."""
    if not path.is_file():
        raise ReportError(f"{path}: missing; run `featuretransfer estimate` on the folder again")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
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
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot be read ({e}); run `featuretransfer estimate`") from None


# --- figures ------------------------------------------------------------------------------


def plot_curves(scores: list[dict], stem: Path) -> None:
    """One panel per estimator and group role: each group's estimate (grey, right axis) and the
    measured frozen and fine-tuned top-1 (left axis) against the cut n."""
    roles = [role for role in ROLES if any(r["role"] == role for r in scores)]
    fig, axes = plt.subplots(
        len(roles),
        len(ESTIMATORS),
        figsize=(3.6 * len(ESTIMATORS), 3.2 * len(roles)),
        squeeze=False,
        layout="constrained",
    )
    for row, role in zip(axes, roles):
        groups = sorted({r["group"] for r in scores if r["role"] == role})
        for ax, estimator in zip(row, ESTIMATORS):
            twin = ax.twinx()
            for group in groups:
                points = sorted((r for r in scores if r["group"] == group), key=lambda r: r["n"])
                ns = [r["n"] for r in points]
                twin.plot(ns, [r[estimator] for r in points], color="0.45", lw=1.2, marker=".")
                for column, label in zip(("measured_top1", "measured_top1_plus"), ROLES[role]):
                    measured = [(r["n"], r[column]) for r in points if math.isfinite(r[column])]
                    if measured:
                        style = STYLES[label]
                        # markers at the measured cuts, lines only between neighbours (n, n+1)
                        for (n0, y0), (n1, y1) in zip(measured, measured[1:]):
                            if n1 == n0 + 1:
                                ax.plot([n0, n1], [y0, y1], color=style["edge"], lw=1)
                        ax.plot(
                            *zip(*measured),
                            linestyle="none",
                            marker=style["marker"],
                            mfc=style["face"],
                            mec=style["edge"],
                            ms=5,
                            label=label if group == groups[0] else None,
                        )
            ax.set_title(
                f"{NAMES[estimator]} (estimate, grey) vs {' / '.join(ROLES[role])}", fontsize=9
            )
            ax.set_xlabel("cut n")
            ax.set_ylabel("measured top-1")
            twin.set_ylabel(f"{NAMES[estimator]} score", color="0.35")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7, loc="best", frameon=False)
    fig.suptitle("ESTIMATES (grey, right axes) beside measured transfer (left axes)", fontsize=11)
    save_figure(fig, stem)


MAP_KINDS = ("A-B", "fine-tuned", "selffer")
MAP_TITLES = {
    "A-B": "baseA layer (rows) vs baseB layer (columns)",
    "fine-tuned": "each fine-tuned net vs its base net, layer by layer (rows: cut n)",
    "selffer": "BnB vs baseB, layer by layer (rows: cut n; 1 up to the cut: copied)",
}


def map_matrices(rows: list[dict], kind: str) -> list[tuple[str, list, list, np.ndarray]]:
    """(title, row labels, column labels, matrix) per base group, for one kind of map."""
    by_group = defaultdict(list)
    for r in rows:
        if r["kind"] == kind:
            by_group[r["group"]].append(r)
    maps = []
    for _, cells in sorted(by_group.items()):
        if kind == "A-B":
            row_keys = list(dict.fromkeys(c["layer_a"] for c in cells))
            index = {(c["layer_a"], c["layer_b"]): c["cka"] for c in cells}
            # the same two nets compared on each half's images: the title says whose
            half = cells[0]["group"].split("->")[-1].split("#")[0]
            title = f"{cells[0]['net_a']} vs {cells[0]['net_b']}, on half {half}'s images"
            row_labels = row_keys
            col_keys = list(dict.fromkeys(c["layer_b"] for c in cells))
        else:
            row_keys = sorted({int(c["n"]) for c in cells})
            index = {(int(c["n"]), c["layer_a"]): c["cka"] for c in cells}
            row_labels = [f"n = {n}" for n in row_keys]
            title = f"{net_label(cells[0])} vs {cells[0]['net_b']}"
            col_keys = list(dict.fromkeys(c["layer_a"] for c in cells))
        matrix = np.array([[index.get((a, b), NAN) for b in col_keys] for a in row_keys])
        maps.append((title, row_labels, col_keys, matrix))
    return maps


def net_label(cell: dict) -> str:
    """The treatment of a net from its display name: s0:A3B+#0 -> s0:AnB+#0."""
    split, rest = cell["net_a"].split(":", 1)
    body, seed = rest.split("#")
    plus = "+" if body.endswith("+") else ""
    return f"{split}:{body[0]}n{body.rstrip('+')[-1]}{plus}#{seed}"


def plot_maps(rows: list[dict], kind: str, stem: Path) -> dict:
    """Heat maps of one kind (at most MAX_MAPS); what was drawn and what was left out."""
    maps = map_matrices(rows, kind)
    for path in (stem.with_suffix(".png"), stem.with_suffix(".svg")):
        path.unlink(missing_ok=True)  # no stale map of an earlier estimate
    if not maps:
        return {"drawn": 0, "left_out": 0}
    drawn = maps[:MAX_MAPS]
    fig, axes = plt.subplots(
        1,
        len(drawn),
        figsize=(max(4.4 * len(drawn), 7.5), 4.2),
        squeeze=False,
        layout="constrained",
    )
    for ax, (title, row_labels, col_labels, matrix) in zip(axes[0], drawn):
        image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis")
        for (i, j), value in np.ndenumerate(matrix):
            if math.isfinite(value):
                color = "white" if value < 0.6 else "black"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
        if kind != "A-B":  # a white bar after layer n: copied layers left of it, new ones right
            for i, label in enumerate(row_labels):
                n = int(label.split("= ")[1])
                ax.plot([n - 0.5, n - 0.5], [i - 0.5, i + 0.5], color="white", lw=2.5)
        ax.set_xticks(range(len(col_labels)), col_labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(row_labels)), row_labels, fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="linear CKA (debiased)")
    fig.suptitle(f"CKA: {MAP_TITLES[kind]}", fontsize=10)
    save_figure(fig, stem)
    return {"drawn": len(drawn), "left_out": len(maps) - len(drawn)}


# --- ranking and verdict ------------------------------------------------------------------


def ranking(agreement: list[dict]) -> list[dict]:
    """The pooled rows per treatment, best Spearman first (undefined last), ranked 1, 2, ..."""
    table = []
    for treatment in (t for treatments in ROLES.values() for t in treatments):
        rows = [r for r in agreement if r["scope"] == "pooled" and r["treatment"] == treatment]
        rows.sort(key=lambda r: -r["spearman"] if math.isfinite(r["spearman"]) else math.inf)
        for rank, r in enumerate(rows, 1):
            table.append({k: r.get(k, NAN) for k in RANKING_COLUMNS} | {"rank": rank})
    return table


def write_ranking(table: list[dict], report_dir: Path) -> None:
    with (report_dir / "estimates_ranking.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=RANKING_COLUMNS)
        writer.writeheader()
        for row in table:
            writer.writerow({k: f"{v:.4f}" if isinstance(v, float) else v for k, v in row.items()})
    lines = ["| " + " | ".join(RANKING_HEADER) + " |", "|" + "---|" * len(RANKING_HEADER)]
    lines += ["| " + " | ".join(map(str, cells)) + " |" for cells in ranking_cells(table)]
    (report_dir / "estimates_ranking.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


RANKING_HEADER = ["treatment", "rank", "estimator", "Spearman ρ [95% CI]", "Kendall τ [95% CI]"]
RANKING_HEADER += ["τ p-value", "groups", "cuts"]


def interval(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return "undefined"
    if not math.isfinite(low):
        return f"{value:+.2f} [one group]"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def ranking_cells(table: list[dict]) -> list[list]:
    return [
        [
            r["treatment"],
            r["rank"],
            NAMES.get(r["estimator"], r["estimator"]),
            interval(r["spearman"], r["spearman_low"], r["spearman_high"]),
            interval(r["kendall"], r["kendall_low"], r["kendall_high"]),
            f"{r['kendall_p']:.2g}" if math.isfinite(r["kendall_p"]) else "",
            int(r["n_groups"]),
            int(r["n_points"]),
        ]
        for r in table
    ]


def verdict(
    table: list[dict], scores: list[dict], treatment: str, noise: float = DEFAULT_RULES.noise
) -> str:
    """One plain sentence: which estimator would have predicted the measured curve, how well."""
    rows = [r for r in table if r["treatment"] == treatment and math.isfinite(r["spearman"])]
    if not rows:
        return f"{treatment}: not measured at 3 or more cuts, so no estimator can be checked."
    best = rows[0]
    groups = int(best["n_groups"])
    how = (
        f"Spearman ρ = {best['spearman']:+.2f}"
        + (
            f" (95% bootstrap interval over {groups} base groups {best['spearman_low']:+.2f} to "
            f"{best['spearman_high']:+.2f})"
            if math.isfinite(best["spearman_low"])
            else " (one base group: no interval over groups)"
        )
        + f", Kendall τ = {best['kendall']:+.2f}"
        + (f" (p = {best['kendall_p']:.2g})" if math.isfinite(best["kendall_p"]) else "")
        + (
            f", the mean of each group's own, over {int(best['n_points'])} cuts"
            if groups > 1
            else f", over {int(best['n_points'])} cuts"
        )
    )
    tied = [NAMES[r["estimator"]] for r in rows if abs(r["spearman"] - best["spearman"]) < 1e-9]
    name = tied[0] if len(tied) == 1 else f"{', '.join(tied[:-1])} and {tied[-1]} (tied)"
    would = "would each have" if len(tied) > 1 else "would have"
    if best["spearman"] >= WELL:
        text = f"{name} {would} predicted this study's {treatment} curve well: {how}."
    elif best["spearman"] >= ROUGHLY:
        text = f"{name} {would} predicted this study's {treatment} curve only roughly: {how}."
    else:
        text = (
            f"No estimator would have predicted this study's {treatment} curve; the best, "
            f"{name}, {'have' if len(tied) > 1 else 'has'} {how}."
        )
    spread = measured_spread(scores, treatment)
    if math.isfinite(spread) and spread < 3 * noise:
        text += (
            f" The measured {treatment} varies by only {spread:.1f} points over the cuts (one "
            f"net's seed noise is ~{noise:g} point), so its ranking of the "
            "cuts, and any agreement with it, is weak evidence."
        )
    return text


def measured_spread(scores: list[dict], treatment: str) -> float:
    """Mean over groups of max - min measured top-1 over cuts, in points."""
    role = next(role for role, names in ROLES.items() if treatment in names)
    column = "measured_top1_plus" if treatment.endswith("+") else "measured_top1"
    spreads = []
    for group in {r["group"] for r in scores if r["role"] == role}:
        values = [r[column] for r in scores if r["group"] == group and math.isfinite(r[column])]
        if len(values) >= 2:
            spreads.append(100 * (max(values) - min(values)))
    return float(np.mean(spreads)) if spreads else NAN


# --- html ---------------------------------------------------------------------------------


def section_html(scores, table, maps, summary: dict, records: list[dict], noise: float) -> str:
    settings = summary.get("settings", {})
    seconds = summary.get("seconds", {}).get("total", NAN)
    measured_now = {
        r.get("job_id") for r in records if r["treatment"] in ("transfer", "selffer")
    } - {None, ""}
    used = set(summary.get("measured_jobs", []))
    parts = [
        "<p><b>These are estimates, not measurements.</b> Each score comes from the frozen "
        "features after layer n of a base net (of the source half) on a seeded sample of the "
        f"target half: {settings.get('n_fit', '?')} training images to fit on, "
        f"{settings.get('n_held', '?')} validation images to score the probe and k-NN on, "
        f"{settings.get('n_cka', '?')} for CKA; layers above {settings.get('max_dim', '?')} "
        f"numbers per image average-pooled (or projected) to at most that. Computed in "
        f"{seconds:.1f} s. Files: <a href='../estimates/scores.csv'>scores.csv</a>, "
        "<a href='../estimates/agreement.csv'>agreement.csv</a>, "
        "<a href='../estimates/similarity.csv'>similarity.csv</a>.</p>",
    ]
    if summary.get("skipped"):
        items = "".join(f"<li>{html.escape(str(reason))}</li>" for reason in summary["skipped"])
        parts.append(f"<p>Left out of the estimates:</p><ul>{items}</ul>")
    if measured_now - used:
        parts.append(
            f"<p><b>Stale:</b> the study has {len(measured_now)} measured transfer and selffer "
            f"nets now, the agreement below used {len(used)}; run "
            "<code>featuretransfer estimate DIR</code> again.</p>"
        )
    sentences = [
        verdict(table, scores, t, noise) for t in ("AnB", "AnB+") if has_role(scores, "AnB")
    ]
    if any(r["treatment"].startswith("BnB") for r in table):
        sentences += [verdict(table, scores, t, noise) for t in ("BnB", "BnB+")]
    if table:
        parts += [f"<p>{html.escape(s)}</p>" for s in sentences]
        parts.append(html_table(RANKING_HEADER, ranking_cells(table)))
        parts.append(
            "<p>Rank correlation, over cuts, of each estimator's score with the measured top-1 of "
            "the frozen (AnB, BnB) and fine-tuned (AnB+, BnB+) nets, pooled over base groups; "
            "intervals: 95% percentile bootstrap over base groups. Files: "
            "<a href='estimates_ranking.csv'>estimates_ranking.csv</a>, "
            "<a href='estimates_ranking.md'>estimates_ranking.md</a>.</p>"
        )
    else:
        parts.append(
            "<p>No measured transfer yet (only base nets are done): the curves below are the "
            "estimates alone. Run the study, then <code>featuretransfer estimate DIR</code> "
            "again to check them against the measured AnB and AnB+.</p>"
        )
    parts.append('<img src="estimates_curves.png" alt="Estimated and measured transfer curves">')
    for kind in MAP_KINDS:
        if maps[kind]["drawn"]:
            more = maps[kind]["left_out"]
            note = f" ({more} more groups in similarity.csv, not drawn)" if more else ""
            parts.append(f"<h3>CKA: {html.escape(MAP_TITLES[kind])}{note}</h3>")
            parts.append(f'<img src="cka_{kind}.png" alt="CKA {kind}">')
    return "\n".join(parts)


def has_role(scores: list[dict], treatment: str) -> bool:
    role = "selffer" if treatment.startswith("BnB") else "transfer"
    return any(r["role"] == role for r in scores)


def html_table(header: list[str], rows: list[list]) -> str:
    def cells(tag, row):
        return "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells('td', row)}</tr>\n" for row in rows)
    return f"<table>\n<tr>{cells('th', header)}</tr>\n{body}</table>"
