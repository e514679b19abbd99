"""The statistics of a layer-transfer study, computed from its records alone.

Pure functions on the record dicts that report.load_results returns (fields split, split_kind,
source, target, treatment, n, fine_tuned, seed, n_layers, status, top1, n_train_per_class,
train_top1, label): mean and 95% t-interval, the records of the main view (main_records: not the
data-volume base nets), Table 1 of Yosinski et al. (2014) (the AnB+ boost), the co-adaptation /
specificity decomposition per cut, and the sentences that describe its general-to-specific
transition.
Diverged networks never enter a mean. No matplotlib and no file IO: writer.py writes the tables,
figures.py draws from the same helpers.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from scipy import stats

HALVES = ("A", "B")
TABLE1_STARTS = (1, 3, 5)  # Table 1 pools layers k..L-1: 1-7, 3-7, 5-7 for the 8-layer net
TABLE1_COLUMNS = (
    *("layers", "boost_vs_base", "boost_vs_selffer", "n_networks"),
    *("ci95_vs_base", "ci95_vs_selffer", "n_vs_base", "n_vs_selffer"),
)
DECOMPOSITION_COLUMNS = (
    *("n", "coadaptation_drop", "coadaptation_ci95", "n_selffer"),
    *("specificity_drop", "specificity_ci95", "n_transfer", "dominant"),
)
NAN = float("nan")


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% t-interval; the half-width is nan below two values."""
    if not values:
        return NAN, NAN
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, NAN
    sem = statistics.stdev(values) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.975, len(values) - 1)) * sem


# A pretrained source's target split counts with the random splits (SnB in the place of AnB).
SOURCE_AS = ("random", "source")


def pick(records, treatment: str, fine_tuned: bool | None = None, kind: str | None = None):
    """The finished networks of a treatment; diverged ones never enter a mean."""
    return [
        r
        for r in records
        if r["status"] == "done"
        and r["treatment"] == treatment
        and (fine_tuned is None or r["fine_tuned"] == fine_tuned)
        and (kind is None or r["split_kind"] == kind or (kind, r["split_kind"]) == SOURCE_AS)
    ]


def group_scores(records, *keys: str) -> dict[tuple, list[float]]:
    groups = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in keys)].append(r["top1"])
    return groups


def minus_control(nets, controls: dict, *keys: str) -> list[tuple[int, float]]:
    """(n, top1 - mean of its controls) for each net that has a control under the same keys."""
    return [
        (r["n"], r["top1"] - statistics.fmean(controls[k]))
        for r in nets
        if (k := tuple(r[key] for key in keys)) in controls
    ]


def main_records(records: list[dict]) -> list[dict]:
    """The records of the main view: those trained on the treatments' number of images per class.

    A data-volume study adds base nets trained on k images per class for several k; only the base
    nets trained on the same k as the transfer nets are their baseB, the rest belong to the volume
    view. With no treatment networks the most common k of the base nets is the main one.
    """
    treated = [k_of(r) for r in records if r["treatment"] != "base"]
    ks = treated or [k_of(r) for r in records]
    if not ks:
        return []
    # The most common k; a tie goes to k = 0 (every image), then to the larger k.
    main = max(set(ks), key=lambda k: (ks.count(k), k == 0, k))
    return [r for r in records if k_of(r) == main]


def k_of(record: dict) -> int:
    """Training images per class of a record; 0 (all of them) for records made before the field."""
    return record.get("n_train_per_class") or 0


def n_layers(records: list[dict]) -> int:
    """L, the number of transferable layers (8 for the reference net)."""
    return max((r["n_layers"] for r in records), default=1)


def table1(records: list[dict]) -> list[dict]:
    """Table 1: mean boost of AnB+ over baseB and over BnB+ for layers k..L-1, in points.

    Each AnB+ network in the range counts once, whatever its layer: the original study averaged
    over all networks in the range, not over per-layer means, so layers with more networks weigh
    more. A network's controls are the mean of the base nets of its split and target (baseB) and
    the mean of the BnB+ nets of its split, target and n. Random splits only.
    """
    top = n_layers(records) - 1
    bases = group_scores(pick(records, "base", kind="random"), "split", "target")
    selffers = group_scores(pick(records, "selffer", True, "random"), "split", "target", "n")
    transfers = pick(records, "transfer", True, "random")
    rows = []
    for start in [k for k in TABLE1_STARTS if k <= top]:
        nets = [r for r in transfers if start <= r["n"] <= top]
        vs_base = [d for _, d in minus_control(nets, bases, "split", "target")]
        vs_selffer = [d for _, d in minus_control(nets, selffers, "split", "target", "n")]
        (boost_base, ci_base), (boost_selffer, ci_selffer) = mean_ci(vs_base), mean_ci(vs_selffer)
        row = {
            "layers": f"{start}-{top}",
            "boost_vs_base": 100 * boost_base,
            "boost_vs_selffer": 100 * boost_selffer,
            "n_networks": len(nets),
            "ci95_vs_base": 100 * ci_base,
            "ci95_vs_selffer": 100 * ci_selffer,
            "n_vs_base": len(vs_base),
            "n_vs_selffer": len(vs_selffer),
        }
        rows.append(row)
    return rows


def decomposition(records: list[dict]) -> list[dict]:
    """Per cut n, the drop of frozen AnB below baseB split into its two causes, in points.

    Co-adaptation drop = baseB - BnB: what re-learning the upper layers alone loses. Specificity
    drop = BnB - AnB: what features of the other half lose on top of that. Each BnB net is compared
    with the base nets of its split and target, each AnB net with the BnB nets of its split,
    target and n; means and 95% CIs run over networks, as in Table 1. Random splits only; cuts
    without a BnB or AnB network get no row.
    """
    bases = group_scores(pick(records, "base", kind="random"), "split", "target")
    selffers = pick(records, "selffer", False, "random")
    selffer_means = group_scores(selffers, "split", "target", "n")
    transfers = pick(records, "transfer", False, "random")
    rows = []
    for n in range(1, n_layers(records)):
        at_n = [r for r in selffers if r["n"] == n]
        coadaptation = [-d for _, d in minus_control(at_n, bases, "split", "target")]
        at_n = [r for r in transfers if r["n"] == n]
        keys = ("split", "target", "n")
        specificity = [-d for _, d in minus_control(at_n, selffer_means, *keys)]
        if not coadaptation and not specificity:
            continue  # a cut this study did not run
        (co, co_ci), (sp, sp_ci) = mean_ci(coadaptation), mean_ci(specificity)
        if not (math.isfinite(co) and math.isfinite(sp)):
            dominant = "—"
        elif not (above_zero(100 * co, 100 * co_ci) or above_zero(100 * sp, 100 * sp_ci)):
            dominant = "neither"
        else:
            dominant = "co-adaptation" if co > sp else "specificity"
        row = {
            "n": n,
            "coadaptation_drop": 100 * co,
            "coadaptation_ci95": 100 * co_ci,
            "n_selffer": len(coadaptation),
            "specificity_drop": 100 * sp,
            "specificity_ci95": 100 * sp_ci,
            "n_transfer": len(specificity),
            "dominant": dominant,
        }
        rows.append(row)
    return rows


# With one network per cut there is no CI. Two seeds of one Fashion-MNIST base net differed by
# ~1 point of top-1 (measured for this project), so a lone drop must exceed that to count.
SINGLE_NETWORK_NOISE_PTS = 1.0


def above_zero(drop: float, ci: float) -> bool:
    """A drop (percentage points) counts when its 95% CI lies above zero; without a CI (one
    network), when it exceeds SINGLE_NETWORK_NOISE_PTS."""
    return drop - (ci if math.isfinite(ci) else SINGLE_NETWORK_NOISE_PTS) > 0


def transition_text(rows: list[dict]) -> str:
    """The general-to-specific transition that a decomposition implies, in a few sentences."""
    known = [r for r in rows if r["dominant"] != "—"]
    if not known:
        return (
            "Not enough frozen BnB and AnB networks with matching base nets to separate "
            "co-adaptation from specificity at any cut."
        )
    # General features serve B as well as B's own do: AnB is no worse than BnB at that cut.
    general = [
        r["n"] for r in known if not above_zero(r["specificity_drop"], r["specificity_ci95"])
    ]
    sentences = []
    if any(not math.isfinite(r["specificity_ci95"]) for r in known):
        sentences.append(
            f"Some cuts have one network each, so no CI: there a drop counts only above "
            f"{SINGLE_NETWORK_NOISE_PTS:g} point (seed-to-seed noise); run more seeds or splits."
        )
    if general:
        sentences.append(
            f"Features of {layers_text(general)} transfer from A to B as well as B's own "
            "(no specificity drop beyond its 95% CI): they are general."
        )
    for cause, words in (
        ("co-adaptation", "Lost co-adaptation (baseB − BnB)"),
        ("specificity", "Specificity of the features (BnB − AnB)"),
    ):
        if ns := [r["n"] for r in known if r["dominant"] == cause]:
            sentences.append(f"{words} dominates the drop at {layers_text(ns)}.")
    # The transition is the first cut from which specificity dominates all the way to the top.
    tail = 0
    while tail < len(known) and known[-1 - tail]["dominant"] == "specificity":
        tail += 1
    if 0 < tail < len(known):
        first = known[-tail]["n"]
        sentences.append(
            f"Specificity dominates from layer {first} up to the top cut, so the features turn "
            f"from general to specific between layers {first - 1} and {first}."
        )
    elif tail:
        sentences.append("Specificity dominates at every cut: even layer 1 is specific.")
    else:
        sentences.append(
            "Specificity does not dominate at the top cut, so these records show no "
            "general-to-specific transition."
        )
    return " ".join(sentences)


def layers_text(ns: list[int]) -> str:
    """[1, 2, 3, 5] -> 'layers 1–3 and 5'."""
    runs = []
    for n in sorted(ns):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in runs]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return ("layer " if len(ns) == 1 else "layers ") + text


# ---- Table 1 and the decomposition as text (Markdown and HTML cells) ----------------------


def pp(value: float, ci: float) -> str:
    """Percentage points as text: '+1.60 ± 0.42'; '—' for nan, no '±' below two networks."""
    if not math.isfinite(value):
        return "—"
    return f"{value:+.2f}" + (f" ± {ci:.2f}" if math.isfinite(ci) else "")


TABLE1_HEADER = ["layers aggregated", "mean boost over baseB", "mean boost over selffer BnB+"]
DECOMPOSITION_HEADER = [
    *("n", "co-adaptation drop (baseB − BnB)", "networks"),
    *("specificity drop (BnB − AnB)", "networks", "dominates"),
]
TABLE1_NOTE = (
    "Top-1 accuracy in percentage points, mean ± half-width of the 95% t-interval over the AnB+ "
    "networks (transferred, fine-tuned) of the random splits. Every network in the range counts "
    "once, as in the original study, so layers with more networks weigh more. Controls: the mean "
    "baseB of the network's split and target; the mean BnB+ of its split, target and n."
)


def table1_cells(rows: list[dict]) -> list[list]:
    return [
        [
            r["layers"],
            pp(r["boost_vs_base"], r["ci95_vs_base"]),
            pp(r["boost_vs_selffer"], r["ci95_vs_selffer"]),
            r["n_networks"],
        ]
        for r in rows
    ]


def decomposition_cells(rows: list[dict]) -> list[list]:
    return [
        [
            r["n"],
            pp(r["coadaptation_drop"], r["coadaptation_ci95"]),
            r["n_selffer"],
            pp(r["specificity_drop"], r["specificity_ci95"]),
            r["n_transfer"],
            r["dominant"],
        ]
        for r in rows
    ]


def table1_markdown(rows: list[dict]) -> str:
    lines = ["# Table 1: performance boost of AnB+ over controls", ""]
    lines += ["| " + " | ".join(TABLE1_HEADER + ["networks"]) + " |", "|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(str(c) for c in cells) + " |" for cells in table1_cells(rows)]
    return "\n".join(lines + ["", TABLE1_NOTE, ""])
