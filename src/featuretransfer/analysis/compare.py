"""The estimates beside the measured nets: the agreement table (every estimator, the depth prior
and the seed-to-seed ceiling, per treatment), the paired comparisons behind its ranks, and the
transition cuts. The statistics are agreement.py's and transition.py's; this module only
gathers the rows of scores.csv and the records into the tables estimate.py writes.
"""

from __future__ import annotations

import math

from featuretransfer.analysis.agreement import (
    CEILING,
    DEPTH_PRIOR,
    NAN,
    Point,
    agreement,
    choose_units,
    group_correlations,
    paired_difference,
    ranks,
    seed_agreement,
)
from featuretransfer.analysis.estimators import ESTIMATORS
from featuretransfer.analysis.groups import BaseGroup
from featuretransfer.analysis.transition import (
    constant_guess,
    hits,
    measured_transition,
    predicted_transition,
    tolerance,
)

AGREEMENT_COLUMNS = ("estimator", "role", "treatment", "scope", "unit", "n_units", "n_groups")
AGREEMENT_COLUMNS += ("n_points", "spearman", "spearman_low", "spearman_high")
AGREEMENT_COLUMNS += ("kendall", "kendall_low", "kendall_high", "kendall_p")
AGREEMENT_COLUMNS += ("versus_depth", "versus_depth_low", "versus_depth_high")
AGREEMENT_COLUMNS += ("rank_best", "rank_worst", "note")
COMPARISON_COLUMNS = ("role", "treatment", "estimator", "versus", "unit", "n_units")
COMPARISON_COLUMNS += ("difference", "low", "high")
TRANSITION_COLUMNS = ("group", "split", "seed", "source", "target", "treatment", "base_top1")
TRANSITION_COLUMNS += ("measured", "note", *ESTIMATORS, "tolerance")
HIT_COLUMNS = ("predictor", "treatment", "exact", "within_one", "n_groups", "note")
PREDICTORS = (*ESTIMATORS, DEPTH_PRIOR)
COLUMNS = {False: "measured_top1", True: "measured_top1_plus"}


def finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def agreement_table(groups: list[BaseGroup], rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(agreement rows, comparison rows): per role and treatment measured at some cut, a pooled
    row per estimator and the depth prior (with its paired difference to the depth prior and
    its resolved rank among the estimators), the ceiling row, then a row per group."""
    meta = {g.name: g for g in groups}
    table, comparisons = [], []
    for role in ("transfer", "selffer"):
        for fine_tune, column in COLUMNS.items():
            chosen = [r for r in rows if r["role"] == role and finite(r[column])]
            if not chosen:
                continue
            treatment = meta[chosen[0]["group"]].treatment(fine_tune)
            names = sorted({r["group"] for r in chosen})
            units, kind = choose_units({g: (meta[g].split.name, meta[g].seed) for g in names})
            per, n_points = {}, {}
            for name in PREDICTORS:
                points = [Point(r["group"], r["n"], score(r, name), r[column]) for r in chosen]
                n_points[name] = sum(finite(p.score) for p in points)
                per[name] = group_correlations(points)
            rho = {name: {g: v[0] for g, v in per[name].items()} for name in PREDICTORS}
            diffs = {
                (a, b): paired_difference(rho[a], rho[b], units)
                for a in PREDICTORS
                for b in PREDICTORS
                if a != b
            }
            defined = [e for e in ESTIMATORS if any(map(math.isfinite, rho[e].values()))]
            order = ranks(defined, diffs)
            head = {"role": role, "treatment": treatment, "unit": kind}
            for name in PREDICTORS:
                row = head | {"estimator": name, "scope": "pooled", "n_points": n_points[name]}
                row |= agreement(per[name], units)
                if name == DEPTH_PRIOR:
                    versus = (NAN, NAN, NAN)
                else:
                    versus = diffs[(name, DEPTH_PRIOR)][:3]
                row["versus_depth"], row["versus_depth_low"], row["versus_depth_high"] = versus
                best, worst = order.get(name, ("", ""))
                row |= {"rank_best": best, "rank_worst": worst, "note": undefined_note(row)}
                table.append(row)
            table.append(head | ceiling_row(chosen, column, meta, units, kind))
            for g in names:
                for name in PREDICTORS:
                    if g in per[name]:
                        r, t, p = per[name][g]
                        table.append(
                            head
                            | {"estimator": name, "scope": g, "n_units": 1, "n_groups": 1}
                            | {"n_points": sum(x["group"] == g for x in chosen)}
                            | {"spearman": r, "kendall": t, "kendall_p": p}
                        )
            for (a, b), (mean, low, high, n) in diffs.items():
                comparisons.append(
                    {"role": role, "treatment": treatment, "estimator": a, "versus": b}
                    | {"unit": kind, "n_units": n, "difference": mean, "low": low, "high": high}
                )
    return table, comparisons


def score(row: dict, name: str) -> float:
    """An estimator's score in a row of scores.csv; the depth prior's is -n."""
    return -row["n"] if name == DEPTH_PRIOR else row[name]


def undefined_note(row: dict) -> str:
    if math.isfinite(row["spearman"]):
        return ""
    return "undefined: its score does not vary over the measured cuts (or fewer than 3 cuts)"


def ceiling_row(chosen: list[dict], column: str, meta: dict, units: dict, kind: str) -> dict:
    """The measured curve's seed-to-seed agreement, as an agreement row."""
    measured: dict[str, dict[int, float]] = {}
    for r in chosen:
        measured.setdefault(r["group"], {})[r["n"]] = r[column]
    replicates = {g: meta[g].unit_key for g in measured}
    found = seed_agreement(measured, replicates, units, kind)
    return {
        "estimator": CEILING,
        "scope": "pooled",
        "n_units": found["n_units"],
        "n_groups": found["n_pairs"],  # here: pairs of seeds
        "n_points": sum(len(v) for v in measured.values()),
        "spearman": found["spearman"],
        "spearman_low": found["spearman_low"],
        "spearman_high": found["spearman_high"],
        "note": found["note"],
    }


def transition_table(
    groups: list[BaseGroup],
    rows: list[dict],
    records: dict[str, dict],
    nulls: dict[str, dict[str, float]],
    n_classes: dict[str, int],
    margin: float,
) -> tuple[list[dict], list[dict]]:
    """(a row per transfer group, the hits of each estimator and of the constant guess):
    transition.py's rules; `nulls[group]` are the null scores on its images, `n_classes[group]`
    its target's class count, margin in points."""
    by_group: dict[str, dict[int, dict]] = {}
    for r in rows:
        by_group.setdefault(r["group"], {})[r["n"]] = r
    own_name = {(g.split.name, g.seed, g.target): g.name for g in groups if g.role == "selffer"}
    table, top_cut = [], 0
    for g in groups:
        if g.role != "transfer" or g.name not in by_group:
            continue
        cuts = by_group[g.name]
        top = max(cuts)
        top_cut = max(top_cut, top)
        own = by_group.get(own_name.get((g.split.name, g.seed, g.target), ""), {})
        base = records.get(g.own.id)
        base_top1 = float(base["top1"]) if base and base.get("status") == "done" else NAN
        frozen = {n: r["measured_top1"] for n, r in cuts.items() if finite(r["measured_top1"])}
        measured, note = measured_transition(frozen, base_top1, margin, top)
        relative = tolerance(margin, n_classes[g.name])
        row = {
            "group": g.name,
            "split": g.split.name,
            "seed": g.seed,
            "source": g.source,
            "target": g.target,
            "treatment": g.treatment(False),
            "base_top1": base_top1,
            "measured": "" if measured is None else measured,
            "note": note,
            "tolerance": relative,
        }
        for e in ESTIMATORS:
            source = {n: r[e] for n, r in cuts.items()}
            mine = {n: r[e] for n, r in own.items()}
            predicted = predicted_transition(source, mine, nulls[g.name][e], relative, top)
            row[e] = "" if predicted is None else predicted
        if not own:
            row["note"] = (row["note"] + "; " if row["note"] else "") + (
                "no prediction: the target's own base net was not scored (score_selffers off)"
            )
        table.append(row)
    return table, transition_hits(table, top_cut)


def transition_hits(table: list[dict], top_cut: int) -> list[dict]:
    """Each estimator's hits and the best constant guess's (cuts 0..top_cut), per treatment
    (AnB or SnB)."""
    out = []
    for treatment in sorted({r["treatment"] for r in table}):
        rows = [r for r in table if r["treatment"] == treatment]
        measured = [None if r["measured"] == "" else r["measured"] for r in rows]
        for e in ESTIMATORS:
            predicted = [None if r[e] == "" else r[e] for r in rows]
            found = hits(predicted, measured)
            out.append({"predictor": e, "treatment": treatment, "note": ""} | found)
        guess = constant_guess(measured, top_cut)
        note = (
            f"the best constant guess in hindsight: cut {guess['guess_exact']} (exact), "
            f"cut {guess['guess_within_one']} (within one)"
        )
        out.append(
            {"predictor": "constant", "treatment": treatment, "note": note}
            | {k: guess[k] for k in ("exact", "within_one", "n_groups")}
        )
    return out
