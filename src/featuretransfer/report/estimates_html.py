"""The HTML of the estimates section, from the rows report/estimates.py read: the sample sizes
used, the verdict sentences and the ranking table (estimators beside the depth prior and the
ceiling), the transition cut's tables, and the figures with what they show."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from featuretransfer.report.estimates_figures import ESTIMATORS, NAMES, treatment
from featuretransfer.report.page import html_table

NAN = float("nan")
DEPTH_PRIOR, CEILING = "depth_prior", "seed_to_seed"
PREDICTOR_NAMES = NAMES | {DEPTH_PRIOR: "depth prior (score = −n)", CEILING: "seed to seed"}
TREATMENTS = ("AnB", "AnB+", "SnB", "SnB+", "BnB", "BnB+")


RANKING_HEADER = ["treatment", "predictor", "Spearman ρ [95% CI]", "minus depth prior [95% CI]"]
RANKING_HEADER += ["rank", "groups", "units"]


def interval(value: float, low: float, high: float) -> str:
    if not math.isfinite(low):
        return f"{value:+.2f} (no interval: one unit)"
    return f"{value:+.2f} [{low:+.2f}, {high:+.2f}]"


def ranking_cells(table: list[dict]) -> list[list]:
    cells = []
    for r in table:
        versus = (
            interval(r["versus_depth"], r["versus_depth_low"], r["versus_depth_high"])
            if math.isfinite(r["versus_depth"])
            else "—"
        )
        groups = int(r["n_groups"]) if math.isfinite(r["n_groups"]) else 0
        units = int(r["n_units"]) if math.isfinite(r["n_units"]) else 0
        cells.append(
            [
                r["treatment"],
                PREDICTOR_NAMES.get(r["estimator"], r["estimator"]),
                interval(r["spearman"], r["spearman_low"], r["spearman_high"]),
                versus,
                r["rank"] or "—",
                f"{groups} pair{'s' if groups != 1 else ''}"
                if r["estimator"] == CEILING
                else groups,
                f"{units} {r['unit']}{'s' if units != 1 else ''}",
            ]
        )
    return cells


# --- html -----------------------------------------------------------------------------------


def sizes_text(samples: dict) -> str:
    """The sample sizes used, from summary.json's "samples" (one value, or a range)."""

    def span(key: str) -> str:
        values = sorted({int(s[key]) for s in samples.values() if key in s})
        if not values:
            return "?"
        return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"

    return (
        f"{span('fit_images')} training images to fit on, {span('held_images')} validation "
        f"images to score the probe and k-NN on, {span('cka_images')} of the training images "
        f"for CKA, per half ({len(samples)} half sample{'s' if len(samples) != 1 else ''})"
    )


def intro_html(summary: dict, records: list[dict], study_margin: float, folder: Path) -> str:
    settings = summary.get("settings", {})
    seconds = summary.get("seconds", {}).get("total", NAN)
    parts = [
        "<p><b>These are estimates, not measurements.</b> Each score comes from the frozen "
        "features after unit n of a source net (baseA, or a pretrained source) on a seeded "
        f"sample of the target half: {sizes_text(summary.get('samples', {}))}; layers above "
        f"{settings.get('max_dim', '?')} numbers per image average-pooled (or projected) to at "
        f"most that. Computed in {seconds:.1f} s. Files: "
        + ", ".join(
            f"<a href='../estimates/{name}'>{name}</a>"
            for name in (
                "scores.csv",
                "agreement.csv",
                "comparisons.csv",
                "transitions.csv",
                "similarity.csv",
            )
            if (folder / name).is_file()
        )
        + ".</p>"
    ]
    if summary.get("skipped"):
        items = "".join(f"<li>{html.escape(str(reason))}</li>" for reason in summary["skipped"])
        parts.append(f"<p>Left out of the estimates:</p><ul>{items}</ul>")
    measured_now = {
        r.get("job_id") for r in records if r["treatment"] in ("transfer", "selffer")
    } - {None, ""}
    used = set(summary.get("measured_jobs", []))
    if measured_now - used:
        parts.append(
            f"<p><b>Stale:</b> the study has {len(measured_now)} measured transfer and selffer "
            f"nets now, the agreement below used {len(used)}; run "
            "<code>featuretransfer estimate DIR</code> again.</p>"
        )
    margin = settings.get("margin", NAN)
    if math.isfinite(study_margin) and isinstance(margin, float | int) and margin != study_margin:
        parts.append(
            f"<p><b>Stale:</b> the transition cuts below use a margin of {margin} points, the "
            f"study's [report] margin is now {study_margin}; run "
            "<code>featuretransfer estimate DIR</code> again.</p>"
        )
    return "\n".join(parts)


def agreement_html(table: list[dict], agreement: list[dict], scores, noise: float) -> list[str]:
    if not any(r.get("scope") == "pooled" for r in agreement):
        return [
            "<p>No measured transfer yet (only base nets are done): the figures below are the "
            "estimates alone. Run the study, then <code>featuretransfer estimate DIR</code> "
            "again to check them against the measured nets.</p>"
        ]
    parts = ["<h3>Ranking the cuts: estimators beside the depth prior and the ceiling</h3>"]
    for name in TREATMENTS:
        rows = [r for r in agreement if r.get("scope") == "pooled" and r["treatment"] == name]
        if rows:
            text = verdict(rows, name) + weak_evidence(scores, name, noise)
            parts.append(f"<p>{html.escape(text)}</p>")
    if table:
        parts.append(html_table(RANKING_HEADER, ranking_cells(table)))
    parts.append(
        "<p>Spearman's ρ over cuts between each score and the measured top-1 of the frozen (AnB, "
        "SnB, BnB) and fine-tuned (+) nets: the mean of each base group's own ρ. Intervals: 95% "
        "t-intervals over independent units: the random split (its groups, both targets and "
        "every seed, averaged first), or the seed in a study with one split. The depth prior "
        "scores a cut by −n alone; minus depth prior is paired (the same units for both). A "
        "rank is given only where the paired intervals against every other estimator exclude "
        "0. Files: <a href='estimates_ranking.csv'>estimates_ranking.csv</a>, "
        "<a href='estimates_ranking.md'>estimates_ranking.md</a>.</p>"
    )
    return parts


def verdict(rows: list[dict], name: str) -> str:
    """Sentences on one treatment: the best estimator beside the depth prior, which estimators
    beat it (by their paired intervals), the ceiling, and what the unit of the intervals is."""
    by = {r["estimator"]: r for r in rows}
    defined = [r for r in rows if r["estimator"] in ESTIMATORS and math.isfinite(r["spearman"])]
    undefined = [
        NAMES[r["estimator"]]
        for r in rows
        if r["estimator"] in ESTIMATORS and not math.isfinite(r["spearman"])
    ]
    depth = by.get(DEPTH_PRIOR)
    if not defined or depth is None:
        return f"{name}: not measured at 3 or more cuts that vary, so no estimator can be checked."
    best = max(defined, key=lambda r: r["spearman"])
    units = int(best["n_units"])
    text = (
        f"{name}: the best estimator, {NAMES[best['estimator']]}, ranks the cuts at ρ = "
        f"{interval(best['spearman'], best['spearman_low'], best['spearman_high'])}; the depth "
        f"prior at ρ = "
        f"{interval(depth['spearman'], depth['spearman_low'], depth['spearman_high'])}."
    )
    beat = [
        r for r in defined if math.isfinite(r["versus_depth_low"]) and r["versus_depth_low"] > 0
    ]
    if beat:
        text += (
            " Better than the depth prior: "
            + "; ".join(
                f"{NAMES[r['estimator']]} by "
                f"{interval(r['versus_depth'], r['versus_depth_low'], r['versus_depth_high'])}"
                for r in beat
            )
            + "."
        )
    elif units >= 2:
        text += (
            " No estimator is shown to rank the cuts better than the depth prior ("
            f"{NAMES[best['estimator']]} minus depth prior: "
            f"{interval(best['versus_depth'], best['versus_depth_low'], best['versus_depth_high'])}"
            ")."
        )
    else:
        text += " With one unit there is no interval, so no estimator can be shown to beat it."
    ranked = sorted(
        (r for r in defined if math.isfinite(r.get("rank_best", NAN))),
        key=lambda r: r["rank_best"],
    )
    if ranked and all(r["rank_best"] == r["rank_worst"] for r in ranked):
        text += (
            " The estimators' order is resolved: "
            + ", ".join(NAMES[r["estimator"]] for r in ranked)
            + "."
        )
    elif len(ranked) > 1:
        text += " The estimators' order is not resolved by their paired intervals."
    ceiling = by.get(CEILING)
    if ceiling is not None and math.isfinite(ceiling["spearman"]):
        text += (
            " The measured curve's own seed-to-seed agreement, the most a score can be expected "
            f"to reach, is ρ = "
            f"{interval(ceiling['spearman'], ceiling['spearman_low'], ceiling['spearman_high'])}"
            f" over {int(ceiling['n_groups'])} pairs of seeds."
        )
    elif ceiling is not None:
        text += f" The ceiling (seed-to-seed agreement) is {ceiling.get('note') or 'not measured'}."
    unit = best.get("unit", "")
    if unit == "seed":
        text += (
            f" The study has one split, so the unit is the seed ({units} of them) and the claims "
            "are about that split only."
        )
    else:
        text += f" Units: {units} random splits."
    if undefined:
        text += (
            f" Undefined (the score does not vary over the measured cuts): {', '.join(undefined)}."
        )
    return text


def weak_evidence(scores: list[dict], name: str, noise: float) -> str:
    spread = measured_spread(scores, name)
    if math.isfinite(spread) and spread < 3 * noise:
        return (
            f" The measured {name} varies by only {spread:.1f} points over the cuts (one "
            f"net's seed noise is ~{noise:g} point), so its ranking of the cuts, and any "
            "agreement with it, is weak evidence."
        )
    return ""


def measured_spread(scores: list[dict], name: str) -> float:
    """Mean over groups of max - min measured top-1 over cuts, in points."""
    column = "measured_top1_plus" if name.endswith("+") else "measured_top1"
    spreads = []
    for group in {r["group"] for r in scores}:
        rows = [r for r in scores if r["group"] == group]
        if treatment(rows[0], name.endswith("+")) != name:
            continue
        values = [r[column] for r in rows if math.isfinite(r[column])]
        if len(values) >= 2:
            spreads.append(100 * (max(values) - min(values)))
    return float(np.mean(spreads)) if spreads else NAN


def cut_text(value) -> str:
    return str(int(value)) if isinstance(value, float) and math.isfinite(value) else ""


def transition_html(transitions, hits, summary: dict, present: bool) -> list[str]:
    if not present:
        return [
            "<p>These estimates predate the transition cut: run "
            "<code>featuretransfer estimate DIR</code> again.</p>"
        ]
    if not transitions:
        return []
    settings = summary.get("settings", {})
    margin = settings.get("margin", NAN)
    tolerance = transitions[0]["tolerance"]
    parts = [
        "<h3>The transition cut</h3>",
        "<p>Measured: the deepest cut n up to which the frozen transfer net stays within "
        f"{margin:g} point{'s' if margin != 1 else ''} of top-1 (the study's margin) of the "
        "target's own base net at every cut 1..n (0: cut 1 already falls below). Predicted, "
        "from scores alone: the deepest n up to which the source net's score keeps at least "
        f"{1 - tolerance:.2%} of the target's own base net's gain over a layer with no "
        "information, at the same cut (the margin as a share of the largest gain over chance). "
        "A constant guess is the null: the best single cut in hindsight.</p>",
    ]
    groups = [r for r in transitions if math.isfinite(r["base_top1"])]
    pinned = [r for r in groups if cut_text(r["measured"])]
    if hits:
        header = ["treatment", "predictor", "exact hits", "within one cut", "groups"]
        rows = [
            [
                r["treatment"],
                "constant guess" if r["predictor"] == "constant" else NAMES[r["predictor"]],
                int(r["exact"]),
                int(r["within_one"]),
                int(r["n_groups"]),
            ]
            for r in hits
        ]
        parts.append(html_table(header, rows))
        notes = [r["note"] for r in hits if r["predictor"] == "constant" and r["note"]]
        parts += [f"<p>{html.escape(note[0].upper() + note[1:])}.</p>" for note in notes]
    if groups:
        header = ["group", "own base top-1", "measured", *(NAMES[e] for e in ESTIMATORS)]
        rows = [
            [
                r["group"],
                f"{r['base_top1']:.4f}",
                cut_text(r["measured"]) or r["note"],
                *(cut_text(r[e]) or "no prediction" for e in ESTIMATORS),
            ]
            for r in groups
        ]
        parts.append(html_table(header, rows))
    left = len(transitions) - len(groups)
    if left:
        parts.append(f"<p>{left} groups have no measured own base net: left out.</p>")
    if not pinned:
        parts.append(
            "<p>No group has a measured transition: every cut from 1 to the first that falls "
            "below must be trained.</p>"
        )
    return parts


def figures_html(drawn: dict, summary: dict) -> list[str]:
    parts = []
    if drawn["estimates_curves"]:
        parts.append(
            '<img src="estimates_curves.png" alt="Estimated and measured transfer curves">'
        )
        parts.append(
            "<p>Each estimator's score and the measured top-1, each shifted and scaled per group "
            "to mean 0 and SD 1 over the group's measured cuts, then averaged over groups: where "
            "the coloured line follows the black one, the estimator ranks the cuts as the "
            "measurement does; the dotted line is the depth prior.</p>"
        )
    halves = drawn["cka_halves"]
    if halves:
        names = "the source against baseB" if halves["kind"] == "S-B" else "baseA against baseB"
        parts.append(f"<h3>CKA: {names}, with baselines</h3>")
        parts.append('<img src="cka_halves.png" alt="CKA between the halves, with baselines">')
        notes = [
            f"Two untrained nets (init seeds apart) give CKA from the images and the "
            f"architecture alone{'' if halves['untrained'] else ': not measured'}",
            "two base nets of one half that differ only in seed give what training on the same "
            "data shares" + ("" if halves["seeds"] else ": not measured, one seed per split"),
        ]
        parts.append(
            f"<p>{'; '.join(notes)}. A layer is shared by the halves only where their curve "
            "lies above both baselines.</p>"
        )
    if drawn["cka_treatments"]:
        parts.append("<h3>CKA: each treatment net against its source net</h3>")
        parts.append('<img src="cka_treatments.png" alt="CKA of the treatment nets">')
    reasons: dict[str, int] = {}
    for note in summary.get("baselines", []):  # "<map's group>: <reason>", one per map
        reason = str(note).split(": ", 1)[-1]
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        items = "".join(
            f"<li>{html.escape(r)} ({k} map{'s' if k != 1 else ''})</li>"
            for r, k in reasons.items()
        )
        parts.append(f"<p>CKA baselines:</p><ul>{items}</ul>")
    return parts
