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

import math
import textwrap
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the report runs on headless machines and in tests
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from featuretransfer import store  # noqa: E402
from featuretransfer.report.evidence import Groups  # noqa: E402
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
# Horizontal shift (in layers) of each treatment at a cut, so that no marker hides another's.
FIGURE2_OFFSETS = {"base": 0.0, "BnB": -0.21, "BnB+": -0.07, "AnB": 0.07, "AnB+": 0.21}
MARKER_AREA = 38  # points^2
NETS_INTERVAL = "95% t-interval over the nets at a cut"  # Figure 3's bars (tables.mean_ci)
# SVG and PNG without a creation date, so that the same records give byte-identical files.
SVG_METADATA = {"Date": None}


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
        _scatter(top, s["points"], s["style"], s["label"], FIGURE2_OFFSETS.get(s["style"], 0.0))
    for s in lines:
        _line(bottom, s, FIGURE2_OFFSETS.get(s["style"], 0.0))
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
    _title(bottom, head, line_notes(lines, interval, "split"), width=92)
    top.set_ylabel(Y_LABEL)
    bottom.set_ylabel("Top-1 minus the group's baseB (points)")
    for ax in (top, bottom):
        _layer_axis(ax, n_layers)
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
    _title(ax_dissimilar, title, line_notes(dissimilar, NETS_INTERVAL, "net"), width=50)
    _panel_with_bases(ax_dissimilar, dissimilar, n_layers, "No semantic (dissimilar) split here")
    title = "Random weights: layers 1..n frozen"
    _title(ax_random, title, line_notes(random_weights, NETS_INTERVAL, "net"), width=50)
    _panel_with_bases(ax_random, random_weights, n_layers, "No random-weights control here")

    notes = line_notes(normalised, NETS_INTERVAL, "net")
    _title(ax_normalised, "Normalised: each treatment minus its own base", notes, width=110)
    if not any(s["points"] for s in normalised):
        text = "Nothing to normalise: no frozen transfer or random-weights\nnet with a base net"
        no_data(ax_normalised, text)
    else:
        ax_normalised.axhline(0.0, color="black", linestyle=":", linewidth=1, label="base level")
        offsets = np.linspace(-0.12, 0.12, len(normalised)) if len(normalised) > 1 else [0.0]
        for s, dx in zip(normalised, offsets):
            points = [(n, 100 * y) for n, y in s["points"]]
            line = [(n, 100 * m, 100 * ci) for n, m, ci in s["line"]]
            _scatter(ax_normalised, points, s["style"], None, dx)
            _line(ax_normalised, s | {"points": points, "line": line}, dx)
        _layer_axis(ax_normalised, n_layers)
        ax_normalised.set_xlabel(X_LABEL)
        ax_normalised.set_ylabel("Top-1 minus the net's own base (points)")
        ax_normalised.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return save_figure(fig, stem)


def plot_filters(nets: list[tuple[str, Path | None]], path: Path) -> list[str]:
    """Draw the first-layer filters of each base net as a tiled image; return what was not drawn.

    `nets` holds (title, weights file) pairs. A missing or unreadable file becomes a line in the
    returned list (and a note on the figure) instead of an error: the filters are an illustration,
    and the tables must not depend on weights that another machine may not have.
    """
    mosaics, problems = [], []
    for title, weights in nets:
        try:
            mosaics.append((title, filter_mosaic(first_layer_weight(weights))))
        # torch.load raises many types (pickle, zip, runtime); to us they all mean "unreadable".
        except Exception as err:  # noqa: BLE001
            problems.append(f"{title}: {err}")
    if not mosaics:
        fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
        reasons = "\n".join(problems[:6]) or "the records name no base nets"
        no_data(ax, f"No first-layer filters to draw\n{reasons}", fontsize=9)
        _save_one(fig, path)
        return problems
    # as many columns as nets up to 4, and as many rows as they fill: no empty tiles but the
    # last row's; each net 2.6 inches wide, its tile's own aspect high, plus its title
    cols = min(4, len(mosaics))
    rows = math.ceil(len(mosaics) / cols)
    aspect = max(m.shape[0] / m.shape[1] for _, m in mosaics)  # height / width of the tallest
    heading = "First-layer filters of the base nets (each filter scaled to its own range)"
    if problems:
        heading += f"\n{len(problems)} base net(s) not drawn: no readable weights (see index.html)"
    size = (2.6 * cols, (2.6 * aspect + 0.35) * rows + 0.25 * (heading.count("\n") + 1))
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, mosaic) in zip(axes.flat, mosaics):
        ax.imshow(mosaic, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(heading, fontsize=10)
    # tight: the saved image is cropped to what is drawn, so no title is ever cut off and no
    # margin is left empty whatever the count of nets
    fig.savefig(path, dpi=150, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    return problems


def first_layer_weight(weights: Path | None) -> np.ndarray:
    """The first 4-D `.weight` tensor of a saved state_dict, [out, in, kh, kw], as float numpy."""
    if weights is None:
        raise ValueError("no weights file in the records")
    if not Path(weights).is_file():
        raise ValueError(f"missing weights file {weights}")
    try:
        state = store.load_weights(weights)
    except ImportError as err:  # everything but this picture works without torch
        raise ValueError("torch is not available to read the weights") from err
    except store.DamagedError as err:
        raise ValueError(f"{err}: run the study again to redo its net") from None
    for key, value in state.items():
        if key.endswith(".weight") and value.ndim == 4:
            return value.detach().float().numpy()
    raise ValueError(f"{weights} has no 4-D '.weight' tensor (no convolutional first layer)")


def filter_mosaic(weight: np.ndarray, pad: int = 1) -> np.ndarray:
    """Tile filters [out, in, kh, kw] into one RGB image, each filter min-max scaled on its own.

    Three input channels are shown as colour, as the paper's Gabor filters and colour blobs are;
    any other count is averaged into grey.
    """
    n_out, n_in, kh, kw = weight.shape
    cols = math.ceil(math.sqrt(n_out))
    rows = math.ceil(n_out / cols)
    image = np.ones((rows * (kh + pad) + pad, cols * (kw + pad) + pad, 3))
    for i, f in enumerate(weight):
        tile = f.transpose(1, 2, 0) if n_in == 3 else np.repeat(f.mean(0)[:, :, None], 3, axis=2)
        low, high = tile.min(), tile.max()
        tile = (tile - low) / (high - low) if high > low else np.full_like(tile, 0.5)
        r, c = divmod(i, cols)
        top, left = pad + r * (kh + pad), pad + c * (kw + pad)
        image[top : top + kh, left : left + kw] = tile
    return image


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
    done = [r for r in records if r["status"] == "done" and r["split_kind"] in ("random", "source")]
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


def filter_nets(records: list[dict], weights_root: Path) -> list[tuple[str, Path | None]]:
    """(title, weights file) of each finished base net, in split order."""
    nets = []
    order = lambda r: (r["split_kind"], r["split"], r["target"], r["seed"] or 0)  # noqa: E731
    for r in sorted(pick(records, "base"), key=order):
        seed = f", seed {r['seed']}" if r["seed"] is not None else ""
        weights = r.get("weights", "")
        path = weights_root / weights if weights else None
        nets.append((f"{r['split']}: base{r['target']}{seed}", path))
    return nets


# --- drawing helpers ------------------------------------------------------------------------


def _scatter(ax, points: list, style: str, label: str | None, dx: float) -> None:
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


def _line(ax, s: dict, dx: float) -> None:
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
    """What a panel's lines and bars show, in words, as `_line` draws them: `interval` where
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


def _title(ax, title: str, notes: list[str], width: int) -> None:
    """A panel's title with its notes below it, each wrapped to `width` characters a line; a
    size smaller where there are notes."""
    if not notes:
        ax.set_title(title)
        return
    lines = [line for text in (title, *notes) for line in textwrap.wrap(text, width)]
    ax.set_title("\n".join(lines), fontsize=10)


def _panel_with_bases(ax, groups: list[dict], n_layers: int, empty_text: str) -> None:
    """Figure 3 top panels: base nets at n = 0 and one line per group from its bases onward."""
    if not any(g["points"] for g in groups):
        no_data(ax, empty_text)
        return
    offsets = np.linspace(-0.08, 0.08, len(groups)) if len(groups) > 1 else [0.0]
    for i, (g, dx) in enumerate(zip(groups, offsets)):
        _scatter(ax, g.get("base", []), "base", "base nets" if i == 0 else None, dx)
        _scatter(ax, g["points"], g["style"], None, dx)
        _line(ax, g, dx)
    _layer_axis(ax, n_layers)
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    # Inside, where the lines leave room: they start at the base (top left) and fall right,
    # and a legend below the axes squeezed them to nothing once labels carry their counts.
    ax.legend(loc="best", frameon=True, framealpha=0.85, fontsize=8)


def _layer_axis(ax, n_layers: int) -> None:
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
        _save_one(fig, path, close=False)
    plt.close(fig)
    return paths


def _save_one(fig, path: Path, close: bool = True) -> None:
    title, caption = getattr(fig, "featuretransfer_caption", ("", ""))
    text = {"Title": title, "Description": caption} if caption else {}
    # PNG: tEXt chunks; SVG: <title> and <dc:description>, without a date: byte-identical files
    metadata = SVG_METADATA | text if Path(path).suffix == ".svg" else text
    fig.savefig(path, dpi=150, metadata=metadata)
    if close:
        plt.close(fig)
