"""The paper's observations in words: which of them a study's records bear out, and by what rule.

`findings(records, rules)` takes the records of results.load_results and returns one dict per
observation of Yosinski et al. (2014), sections 4.1-4.3: `number`, `claim` (the paper's words,
shortened), `verdict` (holds / does not hold / inconclusive / not measured), `text` (the numbers)
and `rule` (the test that decided, in words). writer.py puts them in findings.md and index.html.

The statistics are evidence.py's: each net is compared inside its base group (split, seed,
target) and intervals run over groups; a single group has no measured interval and uses the
stated noise of one net. Observations 1-5 use the random splits, 6 the semantic ones and the
random-weights control. docs/statistics.md states every rule with a worked example. Pure.
"""

from __future__ import annotations

from featuretransfer.report.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_MEASURED,
    Estimate,
    Groups,
    estimate,
    holm,
    welch,
)
from featuretransfer.report.tables import DEFAULT_RULES, cuts_text, main_records, n_layers
from featuretransfer.specs import ReportSpec

CLAIMS = {
    1: "AnB ≈ baseB at n = 1-2: the first layers' features are general",
    2: "BnB dips below baseB in the middle layers and recovers at the top: fragile co-adaptation",
    3: "BnB+ ≈ baseB: fine-tuning repairs the lost co-adaptation",
    4: "AnB falls as n grows: the top layers' features are specific",
    5: "AnB+ is above baseB: transferred features boost generalisation (Table 1)",
    6: "The dissimilar split's AnB drops more at the top than the random splits', "
    "and random weights fall below transferred features (Figure 3)",
}


def findings_note(rules: ReportSpec) -> str:
    level = round(100 * (1 - 2 * rules.alpha))
    return (
        "Top-1 differences in percentage points: each net against its own base group's base net "
        "(one split, seed and target), then mean [interval] over base groups, so that the base "
        f"nets' seed noise is in every interval. Intervals are {level}% t-intervals over groups: "
        f"each of their ends is a one-sided test at {rules.alpha:g}. A study with a single group "
        f"has no measured interval: it uses the stated seed-to-seed noise of one net, +- "
        f"{rules.noise:g} point, and says so. An equality holds only by an equivalence test "
        f"(the interval inside +- {rules.margin:g} point, the report's margin); a difference "
        "only when its interval excludes zero; a claim over several cuts corrects them by Holm. "
        "'Inconclusive' means the evidence decides neither way: it is not 'equal'. The rules are "
        "in docs/statistics.md."
    )


def findings(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> list[dict]:
    """The six observations, each with its verdict, numbers and rule, in the paper's order."""
    records = main_records(records)
    top = n_layers(records) - 1
    groups = Groups(records, "random")
    kinds = {r["split_kind"] for r in records}
    found = [
        _general_bottom(groups, rules),
        _coadaptation_dip(groups, top, rules),
        _fine_tuning_repairs(groups, rules),
        _specific_top(groups, top, rules),
        _boost(groups, rules),
        _dissimilar_and_random(records, groups, rules),
    ]
    if "random" not in kinds:
        for f in found[:5]:
            f["text"] += (
                " This study has no random split: observations 1-5 need one (a split by seed, or"
                ' your own groups with kind = "random").'
            )
    return found


def findings_markdown(found: list[dict], rules: ReportSpec = DEFAULT_RULES) -> str:
    """report/findings.md: one numbered line per observation, then how the numbers were made."""
    lines = ["# Findings: the paper's observations in these records", ""]
    lines += [
        f"{f['number']}. **{f['claim']}**: *{f['verdict']}*. {f['text']} Rule: {f['rule']}"
        for f in found
    ]
    return "\n".join(lines + ["", findings_note(rules), ""])


def _finding(number: int, verdict: str, text: str, rule: str) -> dict:
    return {
        "number": number,
        "claim": CLAIMS[number],
        "verdict": verdict,
        "text": text,
        "rule": rule,
    }


def _needs(what: str) -> str:
    return f"Needs {what} on a random split, with the base net of their group."


def _equality(estimates: dict[int, Estimate], rules: ReportSpec) -> str:
    """holds if every estimate is equivalent to 0, does not hold if one lies beyond the margin."""
    if all(e.within(rules.margin) for e in estimates.values()):
        return HOLDS
    if any(e.outside(rules.margin) for e in estimates.values()):
        return FAILS
    return INCONCLUSIVE


def _at(estimates: dict[int, Estimate]) -> str:
    return "; ".join(f"n = {n}: {e.text()}" for n, e in estimates.items())


# --- the observations ----------------------------------------------------------------------


def _general_bottom(groups: Groups, rules: ReportSpec) -> dict:
    """(1) Paper: 'Layers one and two transfer almost perfectly from A to B'."""
    rule = (
        f"equivalence: at each of the cuts 1-2 run, AnB − baseB lies within +- {rules.margin:g} "
        "point (holds), or beyond it at one of them (does not hold)"
    )
    cuts = [n for n in groups.cuts("AnB") if n <= 2]
    if not cuts:
        return _finding(1, NOT_MEASURED, _needs("frozen AnB nets at n = 1 or 2"), rule)
    found = {n: estimate(groups.vs_base("AnB", n), rules) for n in cuts}
    return _finding(1, _equality(found, rules), f"AnB − baseB: {_at(found)}.", rule)


def _coadaptation_dip(groups: Groups, top: int, rules: ReportSpec) -> dict:
    """(2) Paper: BnB equals baseB at layers 1-2, drops at 3-6 (most at 4-5), recovers by 7."""
    rule = (
        "a dip: at some middle cut m, BnB(m) is below baseB, below BnB at the lowest cut(s) "
        "and below BnB at the top cut, all three at once (each a one-sided test; the middle "
        "cuts' p-values corrected by Holm); does not hold where BnB is within the margin of "
        "baseB at every middle cut, or where the top cut is below every middle cut (a steady "
        "fall, no recovery)"
    )
    cuts = groups.cuts("BnB")
    low = [n for n in cuts if n <= 2] or cuts[:1]
    middle = [n for n in cuts if low and max(low) < n < top]
    if top < 3 or not middle or top not in cuts:
        missing = "the top cut" if top not in cuts else "a middle cut and a lowest cut"
        return _finding(2, NOT_MEASURED, _needs(f"frozen BnB nets at {missing} (n = {top})"), rule)
    low_vs = {m: estimate(_low_minus(groups, low, m), rules) for m in middle}
    top_vs = {m: estimate(groups.contrast(("BnB", top), ("BnB", m)), rules) for m in middle}
    base_vs = {m: estimate(groups.contrast(("base", m), ("BnB", m)), rules) for m in middle}
    vs_base = {m: estimate(groups.vs_base("BnB", m), rules) for m in middle}
    deepest = min(middle, key=lambda m: vs_base[m].mean)
    text = (
        f"BnB − baseB is lowest in the middle at n = {deepest}: {vs_base[deepest].text()}; "
        f"there BnB at the lowest cut(s) {cuts_text(low)} is above it by "
        f"{low_vs[deepest].text()} and BnB at the top cut {top} by {top_vs[deepest].text()}."
    )
    measured = all(e.measured for d in (low_vs, top_vs, base_vs) for e in d.values())
    if measured:
        p_cut = [max(low_vs[m].p_above, top_vs[m].p_above, base_vs[m].p_above) for m in middle]
        adjusted = dict(zip(middle, holm(p_cut)))
        dips = [m for m in middle if adjusted[m] < rules.alpha]
        text += f" Holm-adjusted p of the dip at n = {deepest}: {adjusted[deepest]:.3f}."
    else:  # one group: each contrast must exceed the stated noise; no correction is possible
        dips = [m for m in middle if low_vs[m].above and top_vs[m].above and base_vs[m].above]
        text += " One base group: no p-values, so no correction for the middle cuts."
    if dips:
        return _finding(2, HOLDS, text + f" A dip at {cuts_text(dips)}.", rule)
    if all(vs_base[m].within(rules.margin) for m in middle):
        return _finding(
            2, FAILS, text + " BnB is within the margin of baseB at every middle cut.", rule
        )
    if all(top_vs[m].below for m in middle):
        return _finding(
            2, FAILS, text + " BnB falls to its lowest at the top cut: no recovery.", rule
        )
    return _finding(2, INCONCLUSIVE, text, rule)


def _low_minus(groups: Groups, low: list[int], m: int) -> list[float]:
    """Per group: mean BnB over the lowest cuts minus BnB at m, in points."""
    values = []
    for g in groups.with_base():
        ends = [groups.score(g, "BnB", n) for n in low]
        mid = groups.score(g, "BnB", m)
        ends = [e for e in ends if e is not None]
        if ends and mid is not None:
            values.append(100 * (sum(ends) / len(ends) - mid))
    return values


def _fine_tuning_repairs(groups: Groups, rules: ReportSpec) -> dict:
    """(3) Paper: BnB+ recovers baseB at every cut."""
    rule = (
        f"equivalence: BnB+ − baseB, averaged over the cuts run within each group, lies within "
        f"+- {rules.margin:g} point and no single cut lies beyond it (holds); the average or a "
        "cut lies beyond the margin (does not hold)"
    )
    cuts = groups.cuts("BnB+")
    if not cuts:
        return _finding(3, NOT_MEASURED, _needs("fine-tuned BnB+ nets"), rule)
    pooled = estimate(groups.mean_over_cuts("BnB+", cuts), rules)
    per_cut = {n: estimate(groups.vs_base("BnB+", n), rules) for n in cuts}
    worst = min(per_cut, key=lambda n: per_cut[n].mean)
    text = (
        f"BnB+ − baseB over the cuts {cuts_text(cuts)} is {pooled.text()}; the lowest cut is "
        f"n = {worst}: {per_cut[worst].text()}."
    )
    if pooled.outside(rules.margin) or any(e.outside(rules.margin) for e in per_cut.values()):
        return _finding(3, FAILS, text, rule)
    if pooled.within(rules.margin):
        return _finding(3, HOLDS, text, rule)
    return _finding(3, INCONCLUSIVE, text, rule)


def _specific_top(groups: Groups, top: int, rules: ReportSpec) -> dict:
    """(4) Paper: layer 3 drops slightly, layers 4-7 more, by specificity at 6-7."""
    rule = (
        "a fall: at the highest cut run AnB is below baseB and below AnB at the lowest cut run "
        "(both one-sided tests, within groups); does not hold where AnB at the highest cut is "
        "within the margin of baseB or above AnB at the lowest cut"
    )
    cuts = groups.cuts("AnB")
    if len(cuts) < 2:
        return _finding(4, NOT_MEASURED, _needs("frozen AnB nets at two or more cuts"), rule)
    low, high = cuts[0], cuts[-1]
    at_top = estimate(groups.vs_base("AnB", high), rules)
    fall = estimate(groups.contrast(("AnB", low), ("AnB", high)), rules)
    where = f"the top cut n = {high}" if high == top else f"n = {high}, the highest cut run"
    text = (
        f"AnB − baseB at {where} is {at_top.text()}; AnB at n = {low} minus AnB at n = {high} is "
        f"{fall.text()}."
    )
    if at_top.below and fall.above:
        return _finding(4, HOLDS, text, rule)
    if at_top.within(rules.margin) or fall.below:
        return _finding(4, FAILS, text, rule)
    return _finding(4, INCONCLUSIVE, text, rule)


def _boost(groups: Groups, rules: ReportSpec) -> dict:
    """(5) Paper: +1.6 points over layers 1-7, +2.1 over 5-7 (Table 1)."""
    rule = (
        "a boost: AnB+ − baseB, averaged over the cuts run within each group, is above zero "
        "(does not hold when below zero); AnB+ − BnB+ at the same cuts is reported beside it, as "
        "the paper's argument against longer training needs it above zero too"
    )
    cuts = groups.cuts("AnB+")
    if not cuts:
        return _finding(5, NOT_MEASURED, _needs("fine-tuned AnB+ nets"), rule)
    boost = estimate(groups.mean_over_cuts("AnB+", cuts), rules)
    versus = estimate(groups.mean_over_cuts("AnB+", cuts, minus="BnB+"), rules)
    text = f"AnB+ − baseB over the cuts {cuts_text(cuts)} is {boost.text()}"
    if versus.n_groups:
        text += f"; AnB+ − BnB+ at the same cuts is {versus.text()}"
        if boost.above and not versus.above:
            text += (
                ": BnB+, trained as long, is not shown below AnB+, so longer training may "
                "explain the boost"
            )
    text += "."
    verdict = HOLDS if boost.above else FAILS if boost.below else INCONCLUSIVE
    return _finding(5, verdict, text, rule)


def _dissimilar_and_random(records: list[dict], random_groups: Groups, rules: ReportSpec) -> dict:
    """(6) Paper: at the top the dissimilar split drops 25 points against 8 for random splits,
    and even distant features beat random ones."""
    rule = (
        "both: (a) at the highest cut both kinds of split ran, the semantic splits' AnB − base "
        "is below the random splits' (Welch's interval over the two sets of groups); (b) at every "
        "cut with both, frozen AnB is above the random-weights control of its group. Does not "
        "hold if either is refuted (the interval on the other side of zero)"
    )
    semantic = Groups(records, "semantic")
    parts = [_dissimilar(semantic, random_groups, rules), _random_weights(random_groups, rules)]
    verdicts = [v for v, _ in parts]
    text = " ".join(t for _, t in parts)
    for verdict in (FAILS, NOT_MEASURED, INCONCLUSIVE):
        if verdict in verdicts:
            return _finding(6, verdict, text, rule)
    return _finding(6, HOLDS, text, rule)


def _dissimilar(semantic: Groups, random_groups: Groups, rules: ReportSpec) -> tuple[str, str]:
    common = sorted(set(semantic.cuts("AnB")) & set(random_groups.cuts("AnB")))
    if not common:
        return NOT_MEASURED, (
            "Dissimilar split: needs frozen AnB nets at a common cut on a semantic and on a "
            "random split, with their base nets."
        )
    n = common[-1]
    sem, rnd = semantic.vs_base("AnB", n), random_groups.vs_base("AnB", n)
    more = welch(rnd, sem, rules)  # random minus semantic: above zero = the semantic drops more
    text = (
        f"Dissimilar split: at n = {n} AnB − base is {estimate(sem, rules).text()} on the semantic "
        f"splits against {estimate(rnd, rules).text()} on the random ones; the random minus the "
        f"semantic is {more.text()}."
    )
    return (HOLDS if more.above else FAILS if more.below else INCONCLUSIVE), text


def _random_weights(groups: Groups, rules: ReportSpec) -> tuple[str, str]:
    common = sorted(set(groups.cuts("random weights")) & set(groups.cuts("AnB")))
    if not common:
        return NOT_MEASURED, (
            "Random weights: needs frozen random-weights nets and frozen AnB nets at a common "
            "cut on a random split, with their base nets."
        )
    margins = {
        n: estimate(groups.contrast(("AnB", n), ("random weights", n)), rules) for n in common
    }
    n = min(common, key=lambda n: margins[n].mean)
    text = f"Random weights: AnB − random weights is smallest at n = {n}: {margins[n].text()}."
    if all(e.above for e in margins.values()):
        return HOLDS, text + f" Above zero at every common cut ({cuts_text(common)})."
    if any(e.below for e in margins.values()):
        return FAILS, text
    return INCONCLUSIVE, text
