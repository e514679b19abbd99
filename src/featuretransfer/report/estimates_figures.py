"""The estimates' figures, from the rows of DIR/estimates/ (see report/estimates.py):

    estimates_curves   per treatment (rows) and estimator (columns): the estimate and the
                       measured top-1 on one axis, each standardised per group over the
                       group's measured cuts, then averaged over groups; the depth prior
                       (score = -n) standardised the same way, dotted
    cka_halves         the between-halves CKA map (baseA vs baseB, or the source vs baseB),
                       mean over its maps, beside each layer's CKA with itself in the other
                       net against two baselines: two untrained nets, two seeds of one half
    cka_treatments     each fine-tuned net against its source net and each BnB against baseB,
                       layer by layer (rows: the cut), mean over groups, one panel per kind

Sized for index.html: at most FIGURE_WIDTH inches at the report's 150 dpi (1080 px, narrower
than the page's 1100 px body, so no figure is shrunk), every text at least MIN_POINTS points
(14 px on the page).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from featuretransfer.report.drawing import save_figure  # noqa: E402

NAN = float("nan")
ESTIMATORS = ("logme", "hscore", "linear_probe", "knn")
NAMES = {"logme": "LogME", "hscore": "H-score", "linear_probe": "linear probe", "knn": "k-NN"}
COLOURS = {"logme": "#1b9e77", "hscore": "#d95f02", "linear_probe": "#7570b3", "knn": "#e7298a"}
FIGURE_WIDTH = 7.2  # inches: 1080 px at 150 dpi
MIN_POINTS = 7.0  # the smallest text of these figures
FONT = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7}
FONT |= {"ytick.labelsize": 7, "legend.fontsize": 7, "figure.titlesize": 9}
FIGURES = ("estimates_curves", "cka_halves", "cka_treatments")


def treatment(row: dict, fine_tune: bool) -> str:
    """AnB / SnB / BnB (+) of a scores.csv row's group."""
    letter = "B" if row["role"] == "selffer" else "S" if row.get("source") == "S" else "A"
    return f"{letter}nB" + ("+" if fine_tune else "")


def standardised(values: dict[int, float], cuts: list[int]) -> dict[int, float] | None:
    """values at every cut, shifted and scaled by their mean and SD over `cuts`; None where
    they do not vary there (or a value there is missing)."""
    at = [values.get(n, NAN) for n in cuts]
    if not all(map(math.isfinite, at)) or len(at) < 2 or np.std(at) == 0:
        return None
    mean, sd = float(np.mean(at)), float(np.std(at))
    return {n: (v - mean) / sd for n, v in values.items() if math.isfinite(v)}


def curve_panels(scores: list[dict]) -> list[tuple[str, dict]]:
    """[(treatment, {series: {n: mean over groups}, "groups": {estimator: count}})] per
    treatment measured at 3 or more cuts in some group (or, with none measured, one row of
    the estimates alone, standardised over all cuts)."""
    by_group = defaultdict(list)
    for r in scores:
        by_group[r["group"]].append(r)
    panels = []
    for role in ("transfer", "selffer"):
        for fine_tune, column in ((False, "measured_top1"), (True, "measured_top1_plus")):
            sums = defaultdict(lambda: defaultdict(list))
            name = ""
            for rows in by_group.values():
                if rows[0]["role"] != role:
                    continue
                measured = {int(r["n"]): r[column] for r in rows if math.isfinite(r[column])}
                cuts = sorted(measured)
                z = standardised(measured, cuts) if len(cuts) >= 3 else None
                if z is None:
                    continue
                name = treatment(rows[0], fine_tune)
                for n, v in z.items():
                    sums["measured"][n].append(v)
                depth = standardised({int(r["n"]): -float(r["n"]) for r in rows}, cuts)
                for n, v in (depth or {}).items():
                    sums["depth"][n].append(v)
                for e in ESTIMATORS:
                    ze = standardised({int(r["n"]): r[e] for r in rows}, cuts)
                    for n, v in (ze or {}).items():
                        sums[e][n].append(v)
            if name:
                panels.append((name, sums))
    if panels:
        return panels
    sums = defaultdict(lambda: defaultdict(list))
    for rows in by_group.values():
        if rows[0]["role"] != "transfer":
            continue
        cuts = sorted(int(r["n"]) for r in rows)
        for e in ESTIMATORS:
            for n, v in (standardised({int(r["n"]): r[e] for r in rows}, cuts) or {}).items():
                sums[e][n].append(v)
    return [("estimates only", sums)] if sums else []


def plot_curves(scores: list[dict], stem: Path) -> list[str]:
    """The estimates_curves figure; the treatments drawn (none: no figure)."""
    panels = curve_panels(scores)
    if not panels:
        return []
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(
            len(panels),
            len(ESTIMATORS),
            figsize=(FIGURE_WIDTH, 1.75 * len(panels) + 0.9),
            squeeze=False,
            sharex=True,
            sharey=True,
            layout="constrained",
        )
        for row, (name, sums) in zip(axes, panels):
            for ax, e in zip(row, ESTIMATORS):
                groups = max((len(v) for v in sums[e].values()), default=0)
                draw(ax, sums.get("measured"), "black", "-", "o", "measured top-1")
                draw(ax, sums.get("depth"), "0.55", ":", None, "depth prior (score = -n)")
                draw(ax, sums[e], COLOURS[e], "-", "s", "estimate")
                ax.axhline(0, color="0.85", lw=0.6, zorder=0)
                ax.set_title(f"{NAMES[e]}: {groups} group{'s' if groups != 1 else ''}")
                if not groups:
                    ax.text(
                        0.5,
                        0.5,
                        "undefined:\nthe score does\nnot vary",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                        fontsize=MIN_POINTS,
                    )
            row[0].set_ylabel(f"{name}\nstandardised" if name != "estimates only" else name)
        for ax in axes[-1]:
            ax.set_xlabel("cut n")
            ax.xaxis.get_major_locator().set_params(integer=True)
        handles = [
            plt.Line2D([], [], color="black", marker="o", label="measured top-1 (mean)"),
            plt.Line2D([], [], color="0.55", ls=":", label="depth prior, score = -n"),
        ] + [
            plt.Line2D([], [], color=COLOURS[e], marker="s", label=f"{NAMES[e]} (estimate)")
            for e in ESTIMATORS
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
        fig.suptitle(
            "ESTIMATES beside measured top-1: each standardised per group over its measured "
            "cuts, mean over groups"
        )
        save_figure(fig, stem)
    return [name for name, _ in panels]


def draw(ax, sums: dict | None, colour: str, style: str, marker: str | None, label: str) -> None:
    if not sums:
        return
    cuts = sorted(sums)
    means = [float(np.mean(sums[n])) for n in cuts]
    ax.plot(cuts, means, color=colour, ls=style, marker=marker, ms=3.5, lw=1.3, label=label)


# --- CKA ------------------------------------------------------------------------------------


def mean_matrix(cells: list[dict], rows_key: str, cols_key: str) -> tuple[list, list, np.ndarray]:
    """(row labels, column labels, mean CKA per cell over the maps), in first-seen order."""
    values = defaultdict(list)
    for c in cells:
        values[(c[rows_key], c[cols_key])].append(c["cka"])
    row_labels = list(dict.fromkeys(c[rows_key] for c in cells))
    col_labels = list(dict.fromkeys(c[cols_key] for c in cells))
    matrix = np.array(
        [[finite_mean(values.get((a, b), [])) for b in col_labels] for a in row_labels]
    )
    return row_labels, col_labels, matrix


def finite_mean(values: list[float]) -> float:
    v = [x for x in values if math.isfinite(x)]
    return float(np.mean(v)) if v else NAN


def heat_map(ax, matrix: np.ndarray, row_labels, col_labels) -> object:
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(matrix):
        if math.isfinite(value):
            colour = "white" if value < 0.6 else "black"
            ax.text(
                j, i, f"{value:.2f}", ha="center", va="center", fontsize=MIN_POINTS, color=colour
            )
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=90)
    ax.set_yticks(range(len(row_labels)), [str(x) for x in row_labels])
    return image


def plot_halves(similarity: list[dict], stem: Path) -> dict:
    """The cka_halves figure: what it drew ({"kind", "maps", "untrained", "seeds"}), or {}."""
    for kind in ("A-B", "S-B"):
        cells = [r for r in similarity if r["kind"] == kind]
        if cells:
            break
    else:
        return {}
    maps = sorted({c["group"] for c in cells})
    rows, cols, matrix = mean_matrix(cells, "layer_a", "layer_b")
    diagonal = defaultdict(list)
    for c in cells:
        if c["layer_a"] == c["layer_b"]:
            diagonal[c["layer_a"]].append(c["cka"])
    baselines = {
        kind: [r for r in similarity if r["kind"] == kind and r["group"] in maps]
        for kind in ("untrained", "seeds")
    }
    net_a = "source" if kind == "S-B" else "baseA"
    with plt.rc_context(FONT):
        fig, (left, right) = plt.subplots(
            1, 2, figsize=(FIGURE_WIDTH, 3.9), layout="constrained", width_ratios=(1.15, 1)
        )
        fig.get_layout_engine().set(wspace=0.08)  # the colour bar's label apart from the panel
        image = heat_map(left, matrix, rows, cols)
        left.set_ylabel(f"{net_a} layer")
        left.set_xlabel("baseB layer")
        left.set_title(f"{net_a} vs baseB, every pair of layers")
        fig.colorbar(image, ax=left, shrink=0.85, label="linear CKA (debiased)")
        x = np.arange(len(cols))
        band(
            right, x, [diagonal.get(layer, []) for layer in cols], "black", "o", f"{net_a} vs baseB"
        )
        for name, colour, marker, label in (
            ("seeds", "#2c7fb8", "s", "baseline: two seeds of one half"),
            ("untrained", "#d95f02", "^", "baseline: two untrained nets"),
        ):
            per_layer = defaultdict(list)
            for r in baselines[name]:
                per_layer[r["layer_a"]].append(r["cka"])
            if per_layer:
                band(right, x, [per_layer.get(layer, []) for layer in cols], colour, marker, label)
        right.set_xticks(x, cols, rotation=90)
        right.set_ylim(min(0.0, right.get_ylim()[0]), 1.05)
        right.set_ylabel("CKA of a layer with itself")
        right.set_title("same layer: the halves beside the baselines")
        right.legend(loc="lower left", frameon=False)
        fig.suptitle(
            f"Linear CKA, mean of {len(maps)} map{'s' if len(maps) != 1 else ''} "
            "(split, seed and target half's images); band: lowest to highest map"
        )
        save_figure(fig, stem)
    return {
        "kind": kind,
        "maps": len(maps),
        "untrained": len(baselines["untrained"]) > 0,
        "seeds": len(baselines["seeds"]) > 0,
    }


def band(ax, x, values: list[list[float]], colour, marker, label) -> None:
    """Mean per x with a band from the lowest to the highest value."""
    mean = [finite_mean(v) for v in values]
    low = [min((a for a in v if math.isfinite(a)), default=NAN) for v in values]
    high = [max((a for a in v if math.isfinite(a)), default=NAN) for v in values]
    ax.plot(x, mean, color=colour, marker=marker, ms=4, lw=1.3, label=label)
    ax.fill_between(x, low, high, color=colour, alpha=0.15, lw=0)


def treatment_of(cell: dict) -> str:
    """The treatment of a map's net, as the paper folds them: from its group (s0:A->B#0 is
    transfer, BnA into AnB; s0:B->B#0 selffer, AnA into BnB; a source "S" gives SnB) and its
    kind (fine-tuned: +)."""
    source, target = cell["group"].split(":", 1)[-1].split("#")[0].split("->")
    letter = "S" if source == "S" else "B" if source == target else "A"
    return f"{letter}nB" + ("+" if cell["kind"] == "fine-tuned" else "")


def plot_treatments(similarity: list[dict], stem: Path) -> list[str]:
    """The cka_treatments figure; the panels drawn (their titles)."""
    panels = defaultdict(list)
    for r in similarity:
        if r["kind"] in ("fine-tuned", "selffer"):
            panels[treatment_of(r)].append(r)
    if not panels:
        return []
    order = sorted(panels, key=lambda t: ("+" not in t, t))
    columns = min(2, len(order))
    lines = math.ceil(len(order) / columns)
    titles = []
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(
            lines,
            columns,
            figsize=(min(FIGURE_WIDTH, 1.3 + 3.0 * columns), 3.1 * lines + 0.7),
            squeeze=False,
            layout="constrained",
        )
        image = None
        for ax, name in zip(axes.flat, order):
            cells = panels[name]
            rows, cols, matrix = mean_matrix(cells, "n", "layer_a")
            rows = [int(n) for n in rows]
            order_rows = np.argsort(rows)
            matrix = matrix[order_rows]
            rows = [rows[i] for i in order_rows]
            image = heat_map(ax, matrix, [f"n = {n}" for n in rows], cols)
            for i, n in enumerate(rows):  # a white bar after layer n: copied left, new right
                ax.plot([n - 0.5, n - 0.5], [i - 0.5, i + 0.5], color="white", lw=2.5)
            groups = len({c["group"] for c in cells})
            parent = {"A": "its source net", "B": "its base net", "S": "the source"}[name[0]]
            title = f"{name} vs {parent}, mean of {groups} group{'s' if groups != 1 else ''}"
            ax.set_title(title)
            titles.append(title)
        for ax in axes.flat[len(order) :]:
            ax.set_visible(False)
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="linear CKA (debiased)")
        fig.suptitle(
            "Linear CKA of each net with its source net, layer by layer\n(white bar: the cut; "
            "copied layers left of it)"
        )
        save_figure(fig, stem)
    return titles


def remove_stale(report_dir: Path, drawn: set[str]) -> None:
    """Delete this module's figures of an earlier report that this one did not draw."""
    for name in FIGURES:
        if name not in drawn:
            for suffix in (".png", ".svg"):
                (report_dir / f"{name}{suffix}").unlink(missing_ok=True)
