"""Figures 2 and 3 of Yosinski et al. (2014) and the first-layer filter grid, drawn with matplotlib.

figure2_series, figure3_series and filter_nets turn records (as report.load_results returns
them) into what the plots take, with the statistics of tables.py; plot_figure2, plot_figure3 and
plot_filters then only draw. writer.py calls both. A series is a dict:

    label   legend text
    style   a key of STYLES (the paper's marker and colours)
    points  [(n, y)], one per network, drawn as markers
    line    [(n, mean, ci95)] through the means; ci95 is nan where a point has a single network
    base    [(0, y)] the base nets a line starts from (Figure 3 top panels only; optional)
    linestyle  matplotlib line style of `line` (optional, default solid)
    group_line, n_groups, interval  Figure 2's bottom panel: [(n, mean, half-width)] over base
            groups (nan where one group has the cut), the most groups at a cut, and what the
            half-width is (the findings' interval)

Every panel with lines says in its title what its bars are, why there are none where none can be
measured, and which cuts have no nets (lines join neighbouring cuts only): line_notes.

Run through the report: `featuretransfer report DIR`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the report runs on headless machines and in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from featuretransfer.report.drawing import (  # noqa: E402
    X_LABEL,
    Y_LABEL,
    add_caption,
    draw_line,
    layer_axis,
    line_notes,
    no_data,
    panel_with_bases,
    save_figure,
    scatter,
    title_with_notes,
)
from featuretransfer.report.evidence import kind_of  # noqa: E402
from featuretransfer.report.groups import Groups  # noqa: E402
from featuretransfer.report.tables import (  # noqa: E402
    DEFAULT_RULES,
    HALVES,
    NAN,
    group_scores,
    mean_ci,
    minus_control,
    pick,
)
from featuretransfer.specs import ReportSpec  # noqa: E402

FIGURE2_LABELS = ("baseB", "BnB", "BnB+", "AnB", "AnB+")
# Horizontal shift (in layers) of each treatment at a cut, so that no marker hides another's.
FIGURE2_OFFSETS = {"base": 0.0, "BnB": -0.21, "BnB+": -0.07, "AnB": 0.07, "AnB+": 0.21}
NETS_INTERVAL = "95% t-interval over the nets at a cut"  # Figure 3's bars (tables.mean_ci)


def plot_figure2(
    series: list[dict],
    n_layers: int,
    stem: Path,
    caption: str = "",
    title: str = "Figure 2: random A/B splits",
) -> list[Path]:
    """Figure 2: every network (top) and the mean of each treatment (bottom) against the cut n."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8.5, 9), sharex=True, layout="constrained")
    add_caption(fig, title, caption)
    if not any(s["points"] for s in series):
        for ax in (top, bottom):
            no_data(ax, "No networks on random A/B splits in these records")
        return save_figure(fig, stem)
    lines = [
        s | {"line": s["group_line"]}
        for s in series
        if s["style"] != "base" and len(s.get("group_line", [])) > 1
    ]
    for s in series:
        scatter(top, s["points"], s["style"], s["label"], FIGURE2_OFFSETS.get(s["style"], 0.0))
    for s in lines:
        draw_line(bottom, s, FIGURE2_OFFSETS.get(s["style"], 0.0))
    one_group = max((s.get("n_groups", 0) for s in lines), default=0) == 1
    bottom.axhline(
        0.0,
        color="black",
        linestyle=":",
        linewidth=1.2,
        label="baseB of the one split and seed" if one_group else "baseB (each group's own)",
    )
    top.set_title("Each network (points shifted apart for visibility)")
    head = (
        "Each treatment minus the baseB of the one split and seed in these records"
        if one_group
        else "Each treatment minus its base group's baseB, mean over splits"
    )
    interval = next((s["interval"] for s in lines), "")
    title_with_notes(bottom, head, line_notes(lines, interval, "split"), width=92)
    top.set_ylabel(Y_LABEL)
    bottom.set_ylabel("Top-1 minus the group's baseB (points)")
    for ax in (top, bottom):
        layer_axis(ax, n_layers)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    bottom.set_xlabel(X_LABEL)
    return save_figure(fig, stem)


def plot_figure3(
    dissimilar: list[dict],
    random_weights: list[dict],
    normalised: list[dict],
    n_layers: int,
    stem: Path,
    caption: str = "",
    chance: tuple[float, ...] = (),
) -> list[Path]:
    """Figure 3: dissimilar split (top left), random weights (top right), normalised (bottom).
    The top panels share their y-range (they are compared); `chance` is each target half's
    1 / classes, drawn where known; the normalised panel is in points, as the findings."""
    fig = plt.figure(figsize=(11, 10), layout="constrained")
    add_caption(fig, "Figure 3: dissimilar split and random weights", caption)
    grid = fig.add_gridspec(2, 2)
    ax_dissimilar = fig.add_subplot(grid[0, 0])
    ax_random = fig.add_subplot(grid[0, 1], sharey=ax_dissimilar)
    ax_normalised = fig.add_subplot(grid[1, :])
    for ax, series in ((ax_dissimilar, dissimilar), (ax_random, random_weights)):
        if not any(s["points"] for s in series):
            continue  # an empty panel says so in words; a chance line there is a stray mark
        for i, level in enumerate(sorted(set(chance))):
            label = "chance (1 / classes)" if i == 0 else None
            ax.axhline(level, color="0.45", linestyle="--", linewidth=1, label=label)

    title = "Dissimilar split: base and frozen AnB"
    title_with_notes(ax_dissimilar, title, line_notes(dissimilar, NETS_INTERVAL, "net"), width=50)
    panel_with_bases(ax_dissimilar, dissimilar, n_layers, "No semantic (dissimilar) split here")
    title = "Random weights: layers 1..n frozen"
    title_with_notes(ax_random, title, line_notes(random_weights, NETS_INTERVAL, "net"), width=50)
    panel_with_bases(ax_random, random_weights, n_layers, "No random-weights control here")

    notes = line_notes(normalised, NETS_INTERVAL, "net")
    title_with_notes(
        ax_normalised, "Normalised: each treatment minus its own base", notes, width=110
    )
    if not any(s["points"] for s in normalised):
        text = "Nothing to normalise: no frozen transfer or random-weights\nnet with a base net"
        no_data(ax_normalised, text)
    else:
        ax_normalised.axhline(0.0, color="black", linestyle=":", linewidth=1, label="base level")
        offsets = np.linspace(-0.12, 0.12, len(normalised)) if len(normalised) > 1 else [0.0]
        for s, dx in zip(normalised, offsets):
            points = [(n, 100 * y) for n, y in s["points"]]
            line = [(n, 100 * m, 100 * ci) for n, m, ci in s["line"]]
            scatter(ax_normalised, points, s["style"], None, dx)
            draw_line(ax_normalised, s | {"points": points, "line": line}, dx)
        layer_axis(ax_normalised, n_layers)
        ax_normalised.set_xlabel(X_LABEL)
        ax_normalised.set_ylabel("Top-1 minus the net's own base (points)")
        ax_normalised.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, stem)


# --- series from records (the records are those of report.load_results) --------------------


def _series(label: str, style: str, points: list, start: tuple | None = None, **extra) -> dict:
    """Points, and a line through their means per n that begins at `start` (the base, n = 0);
    the label says how many nets each point has."""
    by_n = defaultdict(list)
    for n, y in points:
        by_n[n].append(y)
    line = [(n, *mean_ci(by_n[n])) for n in sorted(by_n)]
    if start is not None and points:
        line.insert(0, start)
    return {
        "label": label + per_point(by_n),
        "style": style,
        "points": points,
        "line": line,
        **extra,
    }


def per_point(by_n: dict) -> str:
    """' (4 nets per cut)', ' (2-4 nets per cut)', '' without nets."""
    counts = sorted({len(v) for v in by_n.values()})
    if not counts:
        return ""
    many = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f" ({many} net{'' if counts == [1] else 's'} per cut)"


def figure2_series(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> list[dict]:
    """Figure 2's series; `rules` set the bottom panel's interval, as they set the findings'."""
    # a pretrained source's target split is drawn like a random split, SnB in AnB's place
    done = [r for r in records if r["status"] == "done" and kind_of(r) == "random"]
    # n = 0 shows the base nets of the targets the treatments train on (both halves when a study
    # runs both directions, as the paper's did); a baseA with no A-targeted net is not a baseB.
    targets = {(r["split"], r["target"]) for r in done if r["label"] != "baseB"}
    done = [
        r
        for r in done
        if r["label"] != "baseB" or not targets or (r["split"], r["target"]) in targets
    ]
    label = lambda r: r["label"].replace("SnB", "AnB")  # noqa: E731
    points = {
        k: [(r["n_copied"], r["top1"]) for r in done if label(r) == k] for k in FIGURE2_LABELS
    }
    from_source = any(r["label"].startswith("SnB") for r in done)
    legend = {"AnB": "SnB (source)", "AnB+": "SnB+ (source)"} if from_source else {}
    base_mean, base_ci = mean_ci([y for _, y in points["baseB"]])
    has_base = bool(points["baseB"])
    n_base = len(points["baseB"])
    label = "baseB" + (f" ({n_base} nets)" if n_base > 1 else " (1 net)" if n_base else "")
    base = {"label": label, "style": "base", "points": points["baseB"]}
    base["line"] = [(0, base_mean, base_ci)] if has_base else []
    # At n = 0 every treatment is a net trained from scratch on B, i.e. baseB: lines start there.
    start = (0, base_mean, NAN) if has_base else None
    series = [base] + [_series(legend.get(k, k), k, points[k], start) for k in FIGURE2_LABELS[1:]]
    # The bottom panel: each treatment against its own group's base net, over groups, as the
    # findings compare them (halves and splits differ by far more than any treatment does)
    groups = Groups(records, "random", rules)
    # estimate() reads each one-sided test at alpha off a two-sided 1 - 2 alpha interval
    interval = f"{100 * (1 - 2 * rules.alpha):g}% t-interval over splits, the findings' interval"
    for s in series[1:]:
        cuts = groups.cuts(s["style"])
        estimates = [(n, groups.estimate(groups.vs_base(s["style"], n), rules)) for n in cuts]
        s["group_line"] = [(0, 0.0, NAN)] + [
            (n, e.mean, (e.high - e.low) / 2 if e.measured else NAN) for n, e in estimates
        ]
        s["n_groups"] = max((e.n_units for _, e in estimates), default=0)
        s["interval"] = interval
    return series


def figure3_series(records: list[dict]) -> tuple[list, list, list]:
    bases_done = pick(records, "base")
    bases = group_scores(bases_done, "split", "target")

    def from_bases(label, style, nets, pairs, **extra) -> dict:
        base = [(0, y) for pair in pairs for y in bases.get(pair, [])]
        start = (0, *mean_ci([y for _, y in base])) if base else None
        points = [(r["n_copied"], r["top1"]) for r in nets]
        return _series(label, style, points, start, base=base, **extra)

    dissimilar = []
    semantic = pick(records, "transfer", False, "semantic")
    for split in sorted({r["split"] for r in semantic}):
        for target, linestyle in zip(HALVES, ("-", "--")):
            nets = [r for r in semantic if (r["split"], r["target"]) == (split, target)]
            if nets:
                label = f"{split}: target {target}"
                pairs = [(split, target)]
                dissimilar.append(from_bases(label, "dissimilar", nets, pairs, linestyle=linestyle))
    random_weights = []
    for fine_tune, label in ((False, "random weights"), (True, "random weights, fine-tuned")):
        if nets := pick(records, "random", fine_tune):
            pairs = sorted({(r["split"], r["target"]) for r in nets})
            random_weights.append(from_bases(label, "random", nets, pairs))
    # Each network minus the base net of its split, target and seed; else their mean over seeds.
    by_seed = group_scores(bases_done, "split", "target", "seed")
    normalised = []
    for label, style, nets in (
        ("random splits: AnB", "AnB", pick(records, "transfer", False, "random")),
        ("dissimilar split: AnB", "dissimilar", semantic),
        ("random weights", "random", pick(records, "random", False)),
    ):
        seeded = [r for r in nets if (r["split"], r["target"], r["seed"]) in by_seed]
        rest = [r for r in nets if (r["split"], r["target"], r["seed"]) not in by_seed]
        points = minus_control(seeded, by_seed, "split", "target", "seed")
        points += minus_control(rest, bases, "split", "target")
        normalised.append(_series(label, style, points, (0, 0.0, NAN)))
    return dissimilar, random_weights, normalised
