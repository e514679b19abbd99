"""The tables of a layer-transfer study, computed from its records alone.

Pure functions on the record dicts that results.load_results returns (fields split, split_kind,
source, target, treatment, n_copied, fine_tune, seed, n_layers, status, top1, n_train_per_class,
train_top1, label): the records of the main view (main_records: not the data-volume base nets),
Table 1 of Yosinski et al. (2014) (the AnB+ boost) by the paper's pooled rule and by base groups,
the co-adaptation / specificity decomposition per cut, and the sentences that describe its
general-to-specific transition. The statistics are evidence.py's. Diverged networks never enter
a mean. No matplotlib and no file IO: writer.py writes the tables, figures.py draws.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from scipy import stats

from featuretransfer.report.evidence import Estimate, finished, group_key, kind_of
from featuretransfer.report.groups import Groups
from featuretransfer.specs import ReportSpec

HALVES = ("A", "B")
TABLE1_STARTS = (1, 3, 5)  # Table 1 pools cuts k..L-1: 1-7, 3-7, 5-7 for the 8-layer net
TABLE1_COLUMNS = (
    *("layers", "cuts", "pooled_vs_base", "pooled_vs_selffer", "pooled_note"),
    *("n_networks", "n_selffers"),
    *("grouped_vs_base", "grouped_vs_base_low", "grouped_vs_base_high", "n_groups_vs_base"),
    *("grouped_vs_selffer", "grouped_vs_selffer_low", "grouped_vs_selffer_high"),
    "n_groups_vs_selffer",
)
DECOMPOSITION_COLUMNS = (
    *("n", "transfer_drop", "transfer_low", "transfer_high", "features"),
    *("coadaptation_drop", "coadaptation_low", "coadaptation_high", "n_groups_selffer"),
    *("specificity_drop", "specificity_low", "specificity_high", "n_groups_transfer"),
    "dominant",
    "measured",  # the interval runs over replicates (false: a single split and seed)
)
NAN = float("nan")
DEFAULT_RULES = ReportSpec()  # margin 1 point, noise 1 point, alpha 0.05


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
def pick(records, treatment: str, fine_tune: bool | None = None, kind: str | None = None):
    """The finished networks of a treatment; diverged ones never enter a mean."""
    return [
        r
        for r in records
        if r["status"] == "done"
        and r["treatment"] == treatment
        and (fine_tune is None or r["fine_tune"] == fine_tune)
        and (kind is None or kind_of(r) == kind)
    ]


def group_scores(records, *keys: str) -> dict[tuple, list[float]]:
    groups = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in keys)].append(r["top1"])
    return groups


def minus_control(nets, controls: dict, *keys: str) -> list[tuple[int, float]]:
    """(n, top1 - mean of its controls) for each net that has a control under the same keys."""
    return [
        (r["n_copied"], r["top1"] - statistics.fmean(controls[k]))
        for r in nets
        if (k := tuple(r[key] for key in keys)) in controls
    ]


def main_records(records: list[dict], keep_longer: bool = False) -> list[dict]:
    """The records of the main view: not the data-volume base nets, nor (unless `keep_longer`:
    the findings' convergence check reads them) the base nets trained longer.

    A study's records say their role; a table made elsewhere may not, and there the data-volume
    base nets are told by their images per class: only those trained on the same k as the
    transfer nets are baseB. With no treatment networks the most common k of the base nets is
    the main one.
    """
    kept = ("main", "longer") if keep_longer else ("main",)
    records = [r for r in records if r.get("role", "main") in kept]
    treated = [r["n_train_per_class"] for r in records if r["treatment"] != "base"]
    ks = treated or [r["n_train_per_class"] for r in records]
    if not ks:
        return []
    # The most common k; a tie goes to k = 0 (every image), then to the larger k.
    main = max(set(ks), key=lambda k: (ks.count(k), k == 0, k))
    return [r for r in records if r["n_train_per_class"] == main]


def n_layers(records: list[dict]) -> int:
    """L, the number of transferable layers (8 for the reference net)."""
    return max((r["n_layers"] for r in records), default=1)


def table1(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> list[dict]:
    """Table 1: the boost of AnB+ over baseB and over BnB+, for the cuts k..L-1, in points.

    Two rules, both over the random splits:
    - pooled, as the original study computed it: the mean of every AnB+ net in the range minus
      the mean of every base net of a target the study trains towards (boost over baseB), or
      of every fine-tuned selffer in the range, AnA+ folded into BnB+ (boost over BnB+); each
      net counts once, whatever its cut, split or target, and there is no interval: the nets
      are not independent. `pooled_note` flags it where pooling confounds the cuts with the
      groups: groups that ran different cuts in the range (a hard group with one cut beside
      easy ones with all of them moves the mean by its level, not its boost), or AnB+ nets whose
      group has no base net; the by-group value is the one to read there;
    - grouped: per base group, the mean of its AnB+ nets in the range minus its own base net (or
      minus its BnB+ nets at the same cuts), then averaged within splits, with the interval
      over splits (evidence.py).
    `cuts` names the cuts the records have in the range.
    """
    top = n_layers(records) - 1
    done = finished(records, "random")
    # every base net of a target the study trained towards: a study towards B only has baseA
    # as a source, and its accuracy on A's classes is no control for nets scored on B's
    targets = {r["target"] for r in done if r["treatment"] != "base"}
    main_bases = [r for r in done if r["treatment"] == "base" and r.get("role", "main") == "main"]
    bases = [r["top1"] for r in main_bases if r["target"] in targets or not targets]
    based = {group_key(r) for r in main_bases}
    groups = Groups(records, "random", rules)
    rows = []
    for start in [k for k in TABLE1_STARTS if k <= top]:
        in_range = [r for r in done if r["n_copied"] >= start and r["fine_tune"]]
        transfer = [r for r in in_range if r["treatment"] == "transfer"]
        transfers = [r["top1"] for r in transfer]
        selffers = [r["top1"] for r in in_range if r["treatment"] == "selffer"]
        cuts = sorted({r["n_copied"] for r in transfer})
        by_group = defaultdict(set)
        for r in transfer:
            by_group[group_key(r)].add(r["n_copied"])
        note = ""
        if len({frozenset(c) for c in by_group.values()}) > 1:
            note = "confounded: groups ran different cuts here; read the by-split value"
        elif set(by_group) - based:
            note = "confounded: some AnB+ nets have no base net; read the by-split value"
        vs_base = groups.estimate(groups.mean_over_cuts("AnB+", cuts), rules)
        vs_selffer = groups.estimate(groups.mean_over_cuts("AnB+", cuts, minus="BnB+"), rules)
        mean = statistics.fmean
        rows.append(
            {
                "layers": f"{start}-{top}",
                "cuts": cuts_text(cuts),
                "pooled_vs_base": 100 * (mean(transfers) - mean(bases))
                if transfers and bases
                else NAN,
                "pooled_vs_selffer": 100 * (mean(transfers) - mean(selffers))
                if transfers and selffers
                else NAN,
                "pooled_note": note,
                "n_networks": len(transfers),
                "n_selffers": len(selffers),
                **_estimate_columns("grouped_vs_base", vs_base, "n_groups_vs_base"),
                **_estimate_columns("grouped_vs_selffer", vs_selffer, "n_groups_vs_selffer"),
            }
        )
    return rows


def _estimate_columns(name: str, e: Estimate, count: str) -> dict:
    return {name: e.mean, f"{name}_low": e.low, f"{name}_high": e.high, count: e.n_groups}


def decomposition(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> list[dict]:
    """Per cut n, the drop of frozen AnB below baseB split into its two causes, in points.

    Transfer drop = baseB - AnB: what the other half's frozen features cost; the cut's features
    are *general* exactly when observation 1's test says so (AnB - baseB within +- margin), and
    *specific* when AnB lies more than the margin below baseB and the specificity drop is above
    zero (the loss is the features', not only lost co-adaptation); else inconclusive. The drop's
    two causes: co-adaptation = baseB - BnB, what re-learning the upper layers alone loses;
    specificity = BnB - AnB, what the other half's features lose on top of that. Each is taken
    inside each base group, then over splits (evidence.py). A cause dominates only where its
    drop lies beyond the margin (as every drop the findings count); of two such drops the larger;
    "neither" where no drop is: a drop that is significant but smaller than the margin is no
    cause worth naming. Random splits;
    cuts without both a BnB and an AnB net get no cause.
    """
    groups = Groups(records, "random", rules)
    rows = []
    for n in sorted(set(groups.cuts("BnB")) | set(groups.cuts("AnB"))):
        drop = groups.estimate(groups.contrast(("base", n), ("AnB", n)), rules)
        co = groups.estimate(groups.contrast(("base", n), ("BnB", n)), rules)
        sp = groups.estimate(groups.contrast(("BnB", n), ("AnB", n)), rules)
        significant = {
            name: e.mean
            for name, e in (("co-adaptation", co), ("specificity", sp))
            if e.n_units and e.beyond_above(rules.margin)
        }
        if not (co.n_units and sp.n_units):
            dominant = "—"
        else:
            dominant = max(significant, key=significant.get) if significant else "neither"
        if not drop.n_units:
            features = "—"
        elif drop.within(rules.margin):
            features = "general"
        elif drop.beyond_above(rules.margin) and sp.above:
            features = "specific"
        else:
            features = "inconclusive"
        rows.append(
            {
                "n": n,
                "transfer_drop": drop.mean,
                "transfer_low": drop.low,
                "transfer_high": drop.high,
                "features": features,
                "coadaptation_drop": co.mean,
                "coadaptation_low": co.low,
                "coadaptation_high": co.high,
                "n_groups_selffer": co.n_units,
                "specificity_drop": sp.mean,
                "specificity_low": sp.low,
                "specificity_high": sp.high,
                "n_groups_transfer": sp.n_units if sp.n_units else drop.n_units,
                "dominant": dominant,
                "measured": drop.measured,
            }
        )
    return rows


def _runs(ns: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 5] -> [(1, 3), (5, 5)]: the consecutive runs of a set of cuts."""
    runs: list[list[int]] = []
    for n in sorted(ns):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [(a, b) for a, b in runs]


def markdown_table(header: list[str], rows: list[list], aligns: str = "") -> list[str]:
    """A Markdown table's lines (every .md table of the report); `aligns` holds one 'l' or 'r'
    per column (default: all left)."""
    rule = "".join("---:|" if a == "r" else "---|" for a in aligns or "l" * len(header))
    cells = ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return ["| " + " | ".join(header) + " |", "|" + rule, *cells]


def cuts_text(ns: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'; '—' for none."""
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in _runs(ns)) or "—"


def layers_text(ns: list[int]) -> str:
    """[1, 2, 3, 5] -> 'cuts 1–3 and 5'."""
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in _runs(ns)]
    text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return ("cut " if len(ns) == 1 else "cuts ") + text
