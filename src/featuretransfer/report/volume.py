"""The data-volume experiment of the paper's supplement: base nets trained on k images per class.

volume_rows(records) groups the finished base nets by target half and k (`n_train_per_class`;
0 = every training image) and gives, per group, test top-1, train top-1 (`train_top1`: the net in
eval mode on the images it trained on) and the gap train - test, each as mean ± half-width of the
95% t-interval over seeds and splits. plot_volume draws them against k on
a log axis. writer.py writes report/volume.{png,svg,csv,md} when some half has base nets on two
or more values of k, and says that the experiment was not run otherwise.

Run through the report: `featuretransfer report DIR`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from featuretransfer.report.drawing import MARKER_AREA, add_caption, no_data, plt, save_figure
from featuretransfer.report.tables import markdown_table, mean_ci, pick

VOLUME_COLUMNS = (
    *("n_train_per_class", "half", "n_networks", "test_top1_pct", "test_ci95_pct"),
    *("n_train_scored", "train_top1_pct", "train_ci95_pct", "gap_pts", "gap_ci95_pts"),
)
VOLUME_HEADER = (
    *("images per class (k)", "target half", "networks", "test top-1 (%)", "train top-1 (%)"),
    "gap train − test (points)",
)
VOLUME_NOTE = (
    "Base nets trained on the first k training images of each class (all: every image), grouped "
    "by target half: A or B of the random splits, pooled over splits and seeds, and each half of "
    "a semantic split on its own; halves with a single k are left out. Top-1 in percent, mean ± "
    "half-width of the 95% t-interval over networks (no ± for a single net). Train top-1 is "
    "measured in eval mode on the images the net trained on; the gap only over nets that have it."
)
# Half A orange, half B blue (apart from Figure 2's reds and blues); semantic halves after them.
COLOURS = ("#d95f02", "#1f78b4", "#7570b3", "#1b9e77", "#e7298a", "#66a61e")
ALL_SPACING = 4.0  # "all" sits this factor right of the largest k: its true count is unknown
HALF_SHIFT = 1.08  # factor in k between neighbouring halves' markers


def half(record: dict) -> str:
    """The random splits' A and B pool over splits; a semantic split's halves are tasks of their
    own (man-made, natural) and keep its name."""
    if record["split_kind"] == "random":
        return record["target"]
    return f"{record['split']}: {record['target']}"


def volume_nets(records: list[dict]) -> dict[str, list[dict]]:
    """The finished base nets of each half that was trained on two or more k, halves in order."""
    by_half = defaultdict(list)
    for r in pick(records, "base"):
        by_half[half(r)].append(r)
    return {
        h: nets
        for h, nets in sorted(by_half.items())
        if len({r["n_train_per_class"] for r in nets}) >= 2
    }


def _k_order(k: int) -> tuple:
    return (k == 0, k)  # 0 means every image: the largest, last


def volume_rows(records: list[dict]) -> list[dict]:
    """One row per half and k, in percent (points for the gap); empty if no half has two k."""
    rows = []
    for h, nets in volume_nets(records).items():
        for k in sorted({r["n_train_per_class"] for r in nets}, key=_k_order):
            at_k = [r for r in nets if r["n_train_per_class"] == k]
            scored = [r for r in at_k if math.isfinite(r.get("train_top1", math.nan))]
            test, test_ci = mean_ci([100 * r["top1"] for r in at_k])
            train, train_ci = mean_ci([100 * r["train_top1"] for r in scored])
            gap, gap_ci = mean_ci([100 * (r["train_top1"] - r["top1"]) for r in scored])
            rows.append(
                {
                    "n_train_per_class": k,
                    "half": h,
                    "n_networks": len(at_k),
                    "test_top1_pct": test,
                    "test_ci95_pct": test_ci,
                    "n_train_scored": len(scored),
                    "train_top1_pct": train,
                    "train_ci95_pct": train_ci,
                    "gap_pts": gap,
                    "gap_ci95_pts": gap_ci,
                }
            )
    return rows


def volume_cells(rows: list[dict]) -> list[list]:
    """The rows as table cells: 'all' for k = 0, 'mean ± ci' text."""

    def cell(mean: float, ci: float, signed: bool = False) -> str:
        if not math.isfinite(mean):
            return "—"
        text = f"{mean:+.2f}" if signed else f"{mean:.2f}"
        return text + (f" ± {ci:.2f}" if math.isfinite(ci) else "")

    return [
        [
            r["n_train_per_class"] or "all",
            r["half"],
            r["n_networks"],
            cell(r["test_top1_pct"], r["test_ci95_pct"]),
            cell(r["train_top1_pct"], r["train_ci95_pct"]),
            cell(r["gap_pts"], r["gap_ci95_pts"], signed=True),
        ]
        for r in rows
    ]


def volume_markdown(rows: list[dict]) -> str:
    lines = ["# Data volume: top-1 of the base nets against training images per class", ""]
    lines += markdown_table(VOLUME_HEADER, volume_cells(rows), "rlrrrr")
    return "\n".join(lines + ["", VOLUME_NOTE, ""])


def plot_volume(records: list[dict], stem: Path, caption: str = "") -> list[Path]:
    """Test and train top-1 against k (top) and their gap in points (bottom), one colour per
    half; `caption` (study, data, model, schedule) is drawn in it and kept in its metadata."""
    halves = volume_nets(records)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8.5, 7.5), sharex=True, layout="constrained")
    add_caption(fig, "Data volume: base nets on k training images per class", caption)
    if not halves:
        for ax in (top, bottom):
            no_data(ax, "No half has base nets trained on two or more k")
        return save_figure(fig, stem)
    ks = sorted({r["n_train_per_class"] for nets in halves.values() for r in nets}, key=_k_order)
    # Log axis: k = 0 ("all") cannot sit at 0, so it goes right of the largest k.
    x_all = max([k for k in ks if k > 0], default=1) * ALL_SPACING
    where = {k: k or x_all for k in ks}
    for i, ((h, nets), colour) in enumerate(zip(halves.items(), COLOURS * len(halves))):
        # Halves shifted apart by a factor in k so that their markers and bars do not hide
        # each other, as Figure 2 shifts its treatments.
        shift = HALF_SHIFT ** (i - (len(halves) - 1) / 2)
        at = {k: x * shift for k, x in where.items()}
        scored = [r for r in nets if math.isfinite(r.get("train_top1", math.nan))]
        name = f"base{h}" if h in ("A", "B") else h
        _curve(top, nets, at, _test, colour, "o", "-", f"{name}: test")
        _curve(top, scored, at, _train, colour, "s", "--", f"{name}: train")
        _curve(bottom, scored, at, _gap, colour, "s", "-", f"{name}")
    bottom.axhline(0.0, color="black", linestyle=":", linewidth=1)
    several = any(len(v) > 1 for nets in halves.values() for v in _by_k(nets).values())
    top.set_title(
        "Base nets on k images per class"
        + (" (faint: each net, halves shifted; bars: 95% CI)" if several else " (one net each)")
    )
    top.set_ylabel("Top-1 accuracy")
    bottom.set_title("Generalisation gap: train minus test top-1, in points as in the table")
    bottom.set_ylabel("Train − test top-1 (points)")
    bottom.set_xlabel("Training images per class, k (log scale; 'all' not to scale)")
    bottom.set_xscale("log")
    bottom.set_xticks([where[k] for k in ks], [str(k) if k else "all" for k in ks])
    bottom.minorticks_off()
    if not bottom.get_legend_handles_labels()[0]:  # a table made before train_top1 existed
        kwargs = {"ha": "center", "va": "center", "color": "0.35", "transform": bottom.transAxes}
        bottom.text(0.5, 0.5, "No train top-1 in these records", **kwargs)
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, stem)


def _test(r: dict) -> float:
    return r["top1"]


def _train(r: dict) -> float:
    return r["train_top1"]


def _gap(r: dict) -> float:
    return 100 * (r["train_top1"] - r["top1"])


def _by_k(nets: list[dict]) -> dict[int, list[dict]]:
    by_k = defaultdict(list)
    for r in nets:
        by_k[r["n_train_per_class"]].append(r)
    return by_k


def _curve(ax, nets, where: dict, score, colour: str, marker: str, style: str, label: str) -> None:
    """Each net as a faint point, the mean per k as a line with 95% CI bars."""
    by_k = {k: [score(r) for r in group] for k, group in _by_k(nets).items()}
    if not by_k:
        return
    ks = sorted(by_k, key=_k_order)
    xs = [where[k] for k in ks]
    ax.scatter(
        [where[k] for k in ks for _ in by_k[k]],
        [y for k in ks for y in by_k[k]],
        s=MARKER_AREA / 2,
        marker=marker,
        color=colour,
        alpha=0.45,
        linewidths=0,
        zorder=2,
    )
    means, cis = zip(*(mean_ci(by_k[k]) for k in ks))
    # "all" joins the curve with a dotted segment: its distance from the largest k is not to scale.
    solid = len(ks) - 1 if ks[-1] == 0 and len(ks) > 1 else len(ks)
    ax.plot(xs[:solid], means[:solid], color=colour, linestyle=style, marker=marker, label=label)
    if solid < len(ks):
        ax.plot(xs[solid - 1 :], means[solid - 1 :], color=colour, linestyle=":", zorder=1)
        ax.plot(xs[solid:], means[solid:], color=colour, linestyle="none", marker=marker)
    bars = [(x, m, ci) for x, m, ci in zip(xs, means, cis) if math.isfinite(ci)]
    if bars:
        x, m, ci = zip(*bars)
        ax.errorbar(x, m, yerr=ci, fmt="none", ecolor=colour, elinewidth=1, capsize=3, zorder=2)
