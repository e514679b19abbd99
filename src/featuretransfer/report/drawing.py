"""How the report's figures draw: the paper's markers and colours (STYLES), a series' points
and its line with bars, titles that say what the bars are and which cuts are missing, the layer
axis, the caption, and saving PNG and SVG files that the same records make byte-identical.
figures.py, filters.py, volume.py and estimates_figures.py draw with these.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the report runs on headless machines and in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

X_LABEL = "Layer n at which network is chopped and retrained"
Y_LABEL = "Top-1 accuracy"

# The paper's markers: white circles for base nets, dark blue dots BnB, light blue BnB+, dark red
# diamonds AnB, light red AnB+, orange hexagons for the dissimilar split. Random weights get green
# triangles. Lines take the edge colour so that light markers still give a visible line.
STYLES = {
    "base": {"marker": "o", "face": "white", "edge": "black"},
    "BnB": {"marker": "o", "face": "#08306b", "edge": "#08306b"},
    "BnB+": {"marker": "o", "face": "#9ecae1", "edge": "#3182bd"},
    "AnB": {"marker": "D", "face": "#99000d", "edge": "#99000d"},
    "AnB+": {"marker": "D", "face": "#fcae91", "edge": "#de2d26"},
    "dissimilar": {"marker": "h", "face": "#fd8d3c", "edge": "#a63603"},
    "random": {"marker": "^", "face": "#74c476", "edge": "#006d2c"},
}
MARKER_AREA = 38  # points^2
# SVG and PNG without a creation date, so that the same records give byte-identical files.
SVG_METADATA = {"Date": None}


def scatter(ax, points: list, style: str, label: str | None, dx: float) -> None:
    if not points:
        return
    st = STYLES[style]
    ax.scatter(
        [n + dx for n, _ in points],
        [y for _, y in points],
        s=MARKER_AREA,
        marker=st["marker"],
        facecolors=st["face"],
        edgecolors=st["edge"],
        linewidths=0.8,
        label=label,
        zorder=3,
    )


def draw_line(ax, s: dict, dx: float) -> None:
    """Markers at the means of the measured cuts, joined only where two cuts are neighbours
    (n and n + 1): a line across an unmeasured cut would read as a measurement. A point at
    n = 0 is the base the treatment starts from, unshifted, with its own marker elsewhere."""
    if not s["line"]:
        return
    st = STYLES[s["style"]]
    xs = [n + dx if n > 0 else n for n, _, _ in s["line"]]
    means = [m for _, m, _ in s["line"]]
    cuts = [n for n, _, _ in s["line"]]
    runs, current = [], [0]
    for i in range(1, len(cuts)):
        if cuts[i] == cuts[i - 1] + 1:
            current.append(i)
        else:
            runs.append(current)
            current = [i]
    runs.append(current)
    style = {"color": st["edge"], "linestyle": s.get("linestyle", "-"), "linewidth": 1.6}
    for run in runs:
        if len(run) > 1:
            ax.plot([xs[i] for i in run], [means[i] for i in run], zorder=3, **style)
    measured = [i for i, n in enumerate(cuts) if n > 0]
    ax.plot(
        [xs[i] for i in measured],
        [means[i] for i in measured],
        linestyle="none",
        marker=st["marker"],
        markersize=6,
        markerfacecolor=st["face"],
        markeredgecolor=st["edge"],
        zorder=3,
    )
    ax.plot(
        [],
        [],
        marker=st["marker"],
        markerfacecolor=st["face"],
        markeredgecolor=st["edge"],
        label=s["label"],
        **style,
    )  # the legend's entry: marker and line together
    bars = [(x, m, ci) for x, (_, m, ci) in zip(xs, s["line"]) if math.isfinite(ci)]
    if bars:
        x, m, ci = zip(*bars)
        ax.errorbar(x, m, yerr=ci, fmt="none", ecolor=st["edge"], elinewidth=1, capsize=3, zorder=2)


def line_notes(series: list[dict], interval: str, unit: str) -> list[str]:
    """What a panel's lines and bars show, in words, as `draw_line` draws them: `interval` where
    every point has a bar, why not where one `unit` (a net, a base group) gives no interval, and
    the cuts inside a line's range that have no nets, where the line is broken."""
    points, gaps = [], {}
    for s in series:
        # a line's own points: the measured cuts, and a base at n = 0 where it has an interval
        points += [math.isfinite(ci) for n, _, ci in s["line"] if n > 0 or math.isfinite(ci)]
        cuts = [n for n, _, _ in s["line"]]
        missing = sorted(set(range(min(cuts), max(cuts))) - set(cuts)) if cuts else []
        if missing:
            gaps[s["label"].split(" (")[0]] = missing
    clauses = []
    if points and all(points):
        clauses.append(f"bars: {interval}")
    elif any(points):
        clauses.append(f"bars: {interval}; none where a cut has one {unit}")
    elif points:
        clauses.append(f"no bars: one {unit} per cut gives no interval")
    lined = [s for s in series if len(s["line"]) > 1]
    if gaps and len(gaps) == len(lined) and len({tuple(g) for g in gaps.values()}) == 1:
        said = f"no nets at {cut_text(next(iter(gaps.values())))}"  # the same cuts for all
    else:
        said = "; ".join(f"no {label} nets at {cut_text(cuts)}" for label, cuts in gaps.items())
    if gaps:
        clauses.append(f"{said}, so no line crosses them")
    return clauses


def cut_text(cuts: list[int]) -> str:
    """[3, 4, 5, 7] -> 'n = 3-5, 7'."""
    runs = []
    for n in cuts:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return "n = " + ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def title_with_notes(ax, title: str, notes: list[str], width: int) -> None:
    """A panel's title with its notes below it, each wrapped to `width` characters a line; a
    size smaller where there are notes."""
    if not notes:
        ax.set_title(title)
        return
    lines = [line for text in (title, *notes) for line in textwrap.wrap(text, width)]
    ax.set_title("\n".join(lines), fontsize=10)


def panel_with_bases(ax, groups: list[dict], n_layers: int, empty_text: str) -> None:
    """Figure 3 top panels: base nets at n = 0 and one line per group from its bases onward."""
    if not any(g["points"] for g in groups):
        no_data(ax, empty_text)
        return
    offsets = np.linspace(-0.08, 0.08, len(groups)) if len(groups) > 1 else [0.0]
    for i, (g, dx) in enumerate(zip(groups, offsets)):
        scatter(ax, g.get("base", []), "base", "base nets" if i == 0 else None, dx)
        scatter(ax, g["points"], g["style"], None, dx)
        draw_line(ax, g, dx)
    layer_axis(ax, n_layers)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    # Inside, where the lines leave room: they start at the base (top left) and fall right,
    # and a legend below the axes squeezed them to nothing once labels carry their counts.
    ax.legend(loc="best", frameon=True, framealpha=0.85, fontsize=8)


def layer_axis(ax, n_layers: int) -> None:
    ax.set_xticks(range(n_layers))
    ax.set_xlim(-0.5, n_layers - 0.5)
    ax.grid(axis="y", alpha=0.3)


def no_data(ax, text: str, fontsize: int = 11) -> None:
    kwargs = {"ha": "center", "va": "center", "color": "0.35", "fontsize": fontsize}
    ax.text(0.5, 0.5, text, transform=ax.transAxes, **kwargs)
    # Hide this panel's ticks only: set_xticks([]) would empty the tick locator it shares with
    # a drawn panel (sharex/sharey), whose numbers would vanish with them.
    ax.tick_params(bottom=False, labelbottom=False, left=False, labelleft=False)


def add_caption(fig, title: str, caption: str) -> None:
    """The figure's title and caption (study, data, model, schedule, seeds, splits) drawn in it,
    and kept for its files' metadata, so that a copied PNG still says what it shows."""
    if caption:
        fig.suptitle(f"{title}\n{caption}", fontsize=9, wrap=True)
    fig.featuretransfer_caption = (title, caption)


def save_figure(fig, stem: Path) -> list[Path]:
    paths = [Path(stem).with_suffix(".png"), Path(stem).with_suffix(".svg")]
    for path in paths:
        save_one(fig, path, close=False)
    plt.close(fig)
    return paths


def save_one(fig, path: Path, close: bool = True) -> None:
    title, caption = getattr(fig, "featuretransfer_caption", ("", ""))
    text = {"Title": title, "Description": caption} if caption else {}
    # PNG: tEXt chunks; SVG: <title> and <dc:description>, without a date: byte-identical files
    metadata = SVG_METADATA | text if Path(path).suffix == ".svg" else text
    fig.savefig(path, dpi=150, metadata=metadata)
    if close:
        plt.close(fig)
