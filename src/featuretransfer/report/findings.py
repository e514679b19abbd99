"""The paper's observations in words: which of them a study's records bear out, and by what rule.

`findings(records, rules)` takes the records of results.load_results and returns one dict per
observation of Yosinski et al. (2014), sections 4.1-4.3: `number`, `claim` (the paper's words,
shortened), `verdict` (holds / does not hold / inconclusive / not measured / not judged), `text`
(the numbers) and `rule` (the test that decided, in words). writer.py puts them in findings.md
and index.html.

The statistics are evidence.py's: each net is compared inside its base group, groups are
averaged within their split, and intervals run over splits (over seeds where the study has one
split). Observations 1-5 use the random splits, 6 the semantic ones and the random-weights
control. Observations 3 and 5 compare with baseB, which is a control only where it converged:
where the study's longer-trained base nets ([study] convergence) gain more than the margin, or
cannot be shown not to, they are *not judged*. docs/statistics.md states every rule with a worked
example. Pure.
"""

from __future__ import annotations

from featuretransfer.report.evidence import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_JUDGED,
    NOT_MEASURED,
    Estimate,
    at_cuts,
    finding,
    holm,
    kind_of,
    unit_values,
    welch,
)
from featuretransfer.report.groups import Groups, Side
from featuretransfer.report.source_findings import (
    SOURCE_QUESTIONS,
    is_source_study,
    source_findings,
)
from featuretransfer.report.tables import DEFAULT_RULES, cuts_text, main_records, n_layers
from featuretransfer.specs import ReportSpec

CLAIMS = {
    1: "AnB ≈ baseB at n = 1-2: the first layers' features are general",
    2: "BnB dips below baseB in the middle layers and recovers at the top: fragile co-adaptation",
    3: "BnB+ ≈ baseB: fine-tuning repairs the lost co-adaptation",
    4: "AnB falls as n grows: the top layers' features are specific",
    5: "AnB+ is above baseB and above BnB+: transferred features boost generalisation (Table 1)",
    6: "The dissimilar split's AnB drops more at the top than the random splits', "
    "and random weights fall below transferred features (Figure 3)",
}


def findings_note(rules: ReportSpec) -> str:
    level = round(100 * (1 - 2 * rules.alpha))
    return (
        "Top-1 differences in percentage points. Each net is compared with its own base group's "
        "base net (one split, seed and target); the groups of one split are averaged first, as "
        "they share base nets and test images, and the intervals run over splits (over the seeds "
        f"of a study with one split, whose claims are about that split only). Intervals are "
        f"{level}% t-intervals: each end is a one-sided test at {rules.alpha:g}. With a single "
        "split and seed there is no replicate: the interval comes from one net's seed noise "
        "(measured on the study's reseeded base nets, else the stated "
        f"{rules.noise:g} point), sqrt(2) of it for a difference of two nets, and the test set's "
        f"sampling error, and says so. An equality holds only by an equivalence test (the "
        f"interval inside +- {rules.margin:g} point, the report's margin); a drop or a recovery "
        "counts only beyond the margin; a claim over several cuts corrects them by Holm. Nets "
        "at or near chance are left out of every comparison. 'Inconclusive' means the evidence "
        "decides neither way: it is not 'equal'. 'Not judged': the evidence cannot carry the "
        "claim (e.g. base nets that gain from longer training are no control). The rules are in "
        "docs/statistics.md."
    )


def findings(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> list[dict]:
    """The six observations, each with its verdict, numbers and rule, in the paper's order; for
    a pretrained-source study its own three questions instead (source_findings)."""
    if is_source_study(records):
        return source_findings(records, rules)
    records = main_records(records, keep_longer=True)
    top = n_layers(records) - 1
    groups = Groups(records, "random", rules)
    control = _convergence(groups, rules)
    found = [
        _general_bottom(groups, rules),
        _coadaptation_dip(groups, top, rules),
        _judged(_fine_tuning_repairs(groups, rules), control),
        _specific_top(groups, top, rules),
        _judged(_boost(groups, rules), control),
        _dissimilar_and_random(records, groups, rules),
    ]
    if "random" not in {kind_of(r) for r in records}:
        for f in found[:5]:
            f["text"] += (
                " This study has no random split: observations 1-5 need one (a split by seed, or"
                ' your own groups with kind = "random").'
            )
    if groups.at_chance:
        names = ", ".join(sorted(r.get("name") or r["label"] for r in groups.at_chance)[:6])
        for f in found:
            f["text"] += (
                f" {len(groups.at_chance)} net(s) at or near chance are left out ({names}"
                f"{' ...' if len(groups.at_chance) > 6 else ''})."
            )
    return found


def convergence_text(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> str:
    """One sentence on whether the base nets converged, for the report's pages."""
    groups = Groups(main_records(records, keep_longer=True), "random", rules)
    return _convergence(groups, rules)[1]


def findings_markdown(found: list[dict], rules: ReportSpec = DEFAULT_RULES) -> str:
    """report/findings.md: one numbered line per observation, then how the numbers were made."""
    source = found and found[0]["claim"] == SOURCE_QUESTIONS[1]
    title = "a pretrained source on this target" if source else "the paper's observations"
    lines = [f"# Findings: {title} in these records", ""]
    lines += [
        f"{f['number']}. **{f['claim']}**: *{f['verdict']}*. {f['text']} Rule: {f['rule']}"
        for f in found
    ]
    return "\n".join(lines + ["", findings_note(rules), ""])


def _needs(what: str) -> str:
    return f"Needs {what} on a random split, with the base net of their group."


def _equality(estimates: dict[int, Estimate], rules: ReportSpec) -> str:
    """holds if every estimate is equivalent to 0, does not hold if one lies beyond the margin."""
    if all(e.within(rules.margin) for e in estimates.values()):
        return HOLDS
    if any(e.outside(rules.margin) for e in estimates.values()):
        return FAILS
    return INCONCLUSIVE


# --- the control ---------------------------------------------------------------------------


def _convergence(groups: Groups, rules: ReportSpec) -> tuple[bool | None, str]:
    """(converged, sentence): True where baseB trained longer is equivalent to baseB within the
    margin, False where it is not shown to be, None where the study has no such check."""
    if not groups.longer:
        return None, (
            "Convergence of the base nets was not checked (the study trains no longer base "
            "nets: [study] convergence = 2 adds them)."
        )
    gain = groups.estimate(groups.longer_training(), rules)
    text = f"baseB trained longer minus baseB: {gain.text()}"
    if gain.within(rules.margin):
        return True, f"The base nets converged: {text}, within +- {rules.margin:g} point."
    how = "gain more than the margin" if gain.beyond_above(rules.margin) else "not shown flat"
    return False, f"The base nets did not converge ({how}): {text}."


def _judged(found: dict, control: tuple[bool | None, str]) -> dict:
    """Observations that compare with baseB: not judged on base nets that did not converge."""
    converged, sentence = control
    if converged is False and found["verdict"] != NOT_MEASURED:
        found["text"] = (
            f"{sentence} baseB is no control here, so this is not judged. (Measured: "
            f"{found['text']})"
        )
        found["verdict"] = NOT_JUDGED
    elif converged is None:
        found["text"] += f" {sentence}"
    return found


# --- the observations ----------------------------------------------------------------------


def _general_bottom(groups: Groups, rules: ReportSpec) -> dict:
    """(1) Paper: 'Layers one and two transfer almost perfectly from A to B'."""
    rule = (
        f"equivalence: at each of the cuts 1-2 run, AnB − baseB lies within +- {rules.margin:g} "
        "point (holds), or beyond it at one of them (does not hold)"
    )
    cuts = [n for n in groups.cuts("AnB") if n <= 2]
    if not cuts:
        return finding(CLAIMS, 1, NOT_MEASURED, _needs("frozen AnB nets at n = 1 or 2"), rule)
    found = {n: groups.estimate(groups.vs_base("AnB", n), rules) for n in cuts}
    return finding(CLAIMS, 1, _equality(found, rules), f"AnB − baseB: {at_cuts(found)}.", rule)


def _coadaptation_dip(groups: Groups, top: int, rules: ReportSpec) -> dict:
    """(2) Paper: BnB equals baseB at layers 1-2, drops at 3-6 (most at 4-5), and 'by layer 6
    performance is nearly back to the base level'."""
    m = rules.margin
    rule = (
        f"a dip: at some middle cut c, BnB(c) lies more than {m:g} point below baseB and below "
        f"BnB at the lowest cut(s), and BnB at the top cut recovers more than {m:g} point above "
        "BnB(c), all at once (each a one-sided test; the middle cuts' p-values corrected by "
        "Holm); does not hold where BnB is within the margin of baseB at every middle cut, or "
        "where no middle drop recovers (the top within the margin of the middle, or below it)"
    )
    cuts = groups.cuts("BnB")
    low = [n for n in cuts if n <= 2] or cuts[:1]
    middle = [n for n in cuts if low and max(low) < n < top]
    if top < 3 or not middle or top not in cuts:
        missing = "the top cut" if top not in cuts else "a middle cut and a lowest cut"
        return finding(
            CLAIMS, 2, NOT_MEASURED, _needs(f"frozen BnB nets at {missing} (n = {top})"), rule
        )
    est = groups.estimate
    vs_base = {c: est(groups.vs_base("BnB", c), rules) for c in middle}
    vs_low = {c: est(_low_minus(groups, low, c), rules) for c in middle}
    recovery = {c: est(groups.contrast(("BnB", top), ("BnB", c)), rules) for c in middle}
    deepest = min(middle, key=lambda c: vs_base[c].mean)
    text = (
        f"BnB − baseB is lowest in the middle at n = {deepest}: {vs_base[deepest].text()}; "
        f"there BnB at the lowest cut(s) {cuts_text(low)} is above it by "
        f"{vs_low[deepest].text()}, and BnB at the top cut {top} by {recovery[deepest].text()}."
    )
    p_cut = [
        max(vs_base[c].p_less(-m), vs_low[c].p_greater(0), recovery[c].p_greater(m)) for c in middle
    ]
    adjusted = dict(zip(middle, holm(p_cut)))
    text += f" Holm-adjusted p of the dip at n = {deepest}: {adjusted[deepest]:.3f}."
    if dips := [c for c in middle if adjusted[c] < rules.alpha]:
        return finding(CLAIMS, 2, HOLDS, text + f" A dip at {cuts_text(dips)}.", rule)
    if all(vs_base[c].within(m) for c in middle):
        return finding(
            CLAIMS, 2, FAILS, text + " BnB is within the margin of baseB at every middle cut.", rule
        )
    dropped = [c for c in middle if vs_base[c].beyond_below(m)]
    if dropped and all(recovery[c].within(m) or recovery[c].below for c in dropped):
        return finding(
            CLAIMS, 2, FAILS, text + " The middle drop does not recover at the top: no dip.", rule
        )
    return finding(CLAIMS, 2, INCONCLUSIVE, text, rule)


def _low_minus(groups: Groups, low: list[int], c: int) -> dict:
    """Per group: mean BnB over the lowest cuts minus BnB at c, in points."""
    values = {}
    for g in groups.with_base():
        ends = [e for n in low if (e := groups.score(g, "BnB", n)) is not None]
        mid = groups.score(g, "BnB", c)
        if ends and mid is not None:
            values[g] = Side.mean(ends) - mid
    return values


def _fine_tuning_repairs(groups: Groups, rules: ReportSpec) -> dict:
    """(3) Paper: BnB+ recovers baseB at every cut."""
    rule = (
        f"equivalence at every cut: BnB+ − baseB lies within +- {rules.margin:g} point at each "
        "cut run (holds); beyond it at one cut (does not hold); the mean over cuts is shown "
        "beside, but a cut's shortfall is never averaged away"
    )
    cuts = groups.cuts("BnB+")
    if not cuts:
        return finding(CLAIMS, 3, NOT_MEASURED, _needs("fine-tuned BnB+ nets"), rule)
    pooled = groups.estimate(groups.mean_over_cuts("BnB+", cuts), rules)
    per_cut = {n: groups.estimate(groups.vs_base("BnB+", n), rules) for n in cuts}
    worst = max(per_cut, key=lambda n: abs(per_cut[n].mean))
    text = (
        f"BnB+ − baseB over the cuts {cuts_text(cuts)} is {pooled.text()}; the farthest from "
        f"baseB is n = {worst}: {per_cut[worst].text()}."
    )
    if beyond := [n for n, e in per_cut.items() if e.outside(rules.margin)]:
        return finding(
            CLAIMS, 3, FAILS, text + f" Beyond the margin at n = {cuts_text(beyond)}.", rule
        )
    if all(e.within(rules.margin) for e in per_cut.values()):
        return finding(CLAIMS, 3, HOLDS, text, rule)
    open_cuts = [n for n, e in per_cut.items() if not e.within(rules.margin)]
    return finding(
        CLAIMS, 3, INCONCLUSIVE, text + f" Not shown within it at n = {cuts_text(open_cuts)}.", rule
    )


def _specific_top(groups: Groups, top: int, rules: ReportSpec) -> dict:
    """(4) Paper: layer 3 drops slightly, layers 4-7 more, by specificity at 6-7."""
    m = rules.margin
    rule = (
        f"a fall: at the top cut n = L-1 AnB lies more than {m:g} point below baseB, and below "
        "AnB at the lowest cut run (one-sided tests within groups); does not hold where AnB at "
        "the top cut is within the margin of baseB, or above AnB at the lowest cut"
    )
    cuts = groups.cuts("AnB")
    if top not in cuts or len(cuts) < 2:
        what = f"frozen AnB nets at the top cut n = {top}" + (
            " and a lower cut" if top in cuts else ""
        )
        return finding(CLAIMS, 4, NOT_MEASURED, _needs(what), rule)
    low = cuts[0]
    at_top = groups.estimate(groups.vs_base("AnB", top), rules)
    fall = groups.estimate(groups.contrast(("AnB", low), ("AnB", top)), rules)
    text = (
        f"AnB − baseB at the top cut n = {top} is {at_top.text()}; AnB at n = {low} minus AnB at "
        f"n = {top} is {fall.text()}."
    )
    if at_top.beyond_below(m) and fall.above:
        return finding(CLAIMS, 4, HOLDS, text, rule)
    if at_top.within(m) or fall.below:
        return finding(CLAIMS, 4, FAILS, text, rule)
    return finding(CLAIMS, 4, INCONCLUSIVE, text, rule)


def _boost(groups: Groups, rules: ReportSpec) -> dict:
    """(5) Paper: +1.6 points over layers 1-7, +2.1 over 5-7 (Table 1), and 'this effect
    should not be attributed to the longer total training time ... because the BnB+ networks
    are also trained for the same longer length of time and do not exhibit this same
    performance improvement'."""
    rule = (
        "a boost from transfer: AnB+ − baseB and AnB+ − BnB+, each averaged over the cuts run "
        "within a group, are both above zero; does not hold where AnB+ is below baseB or below "
        f"BnB+, or where BnB+ does as well (AnB+ − BnB+ within +- {rules.margin:g} point): "
        "then longer training, not transfer, explains the gain"
    )
    cuts = groups.cuts("AnB+")
    if not cuts:
        return finding(CLAIMS, 5, NOT_MEASURED, _needs("fine-tuned AnB+ nets"), rule)
    boost = groups.estimate(groups.mean_over_cuts("AnB+", cuts), rules)
    versus = groups.estimate(groups.mean_over_cuts("AnB+", cuts, minus="BnB+"), rules)
    text = f"AnB+ − baseB over the cuts {cuts_text(cuts)} is {boost.text()}"
    if not versus.n_units:
        return finding(
            CLAIMS,
            5,
            NOT_MEASURED,
            text + "; there are no BnB+ nets at these cuts, so longer training cannot be ruled "
            "out: the claim needs them.",
            rule,
        )
    text += f"; AnB+ − BnB+ at the same cuts is {versus.text()}."
    if boost.above and versus.above:
        return finding(CLAIMS, 5, HOLDS, text, rule)
    if boost.below or versus.below:
        return finding(CLAIMS, 5, FAILS, text, rule)
    if versus.within(rules.margin):
        return finding(
            CLAIMS,
            5,
            FAILS,
            text + " BnB+, trained as long, does as well: longer training explains it.",
            rule,
        )
    return finding(CLAIMS, 5, INCONCLUSIVE, text, rule)


def _dissimilar_and_random(records: list[dict], random_groups: Groups, rules: ReportSpec) -> dict:
    """(6) Paper: at the top the dissimilar split drops 25 points against 8 for random splits,
    and even distant features beat random ones."""
    rule = (
        "both: (a) at the highest cut both kinds of split ran, the semantic splits' AnB − base "
        "is below the random splits' (Welch's interval over the two sets of splits); (b) at "
        "every cut where a group has both, frozen AnB is above the random-weights control of its "
        "group. Does not hold if either is refuted (the interval on the other side of zero); not "
        "measured where a part has no nets"
    )
    semantic = Groups(records, "semantic", rules)
    parts = [_dissimilar(semantic, random_groups, rules), _random_weights(random_groups, rules)]
    verdicts = [v for v, _ in parts]
    text = " ".join(t for _, t in parts)
    for verdict in (FAILS, NOT_MEASURED, INCONCLUSIVE):
        if verdict in verdicts:
            return finding(CLAIMS, 6, verdict, text, rule)
    return finding(CLAIMS, 6, HOLDS, text, rule)


def _dissimilar(semantic: Groups, random_groups: Groups, rules: ReportSpec) -> tuple[str, str]:
    common = sorted(set(semantic.cuts("AnB")) & set(random_groups.cuts("AnB")))
    if not common:
        return NOT_MEASURED, (
            "Dissimilar split: needs frozen AnB nets at a common cut on a semantic and on a "
            "random split, with their base nets."
        )
    n = common[-1]
    sem, rnd = semantic.vs_base("AnB", n), random_groups.vs_base("AnB", n)
    more = welch(unit_values(rnd), unit_values(sem), rules)  # above zero: semantic drops more
    text = (
        f"Dissimilar split: at n = {n} AnB − base is {semantic.estimate(sem, rules).text()} on "
        f"the semantic splits against {random_groups.estimate(rnd, rules).text()} on the random "
        f"ones; the random minus the semantic is {more.text()}."
    )
    return (HOLDS if more.above else FAILS if more.below else INCONCLUSIVE), text


def _random_weights(groups: Groups, rules: ReportSpec) -> tuple[str, str]:
    margins = {
        n: groups.estimate(groups.contrast(("AnB", n), ("random weights", n)), rules)
        for n in sorted(set(groups.cuts("random weights")) & set(groups.cuts("AnB")))
    }
    margins = {n: e for n, e in margins.items() if e.n_units}  # a group with both nets
    if not margins:
        return NOT_MEASURED, (
            "Random weights: needs a group with both frozen random-weights nets and frozen AnB "
            "nets at a common cut, on a random split, with its base net."
        )
    n = min(margins, key=lambda n: margins[n].mean)
    text = f"Random weights: AnB − random weights is smallest at n = {n}: {margins[n].text()}."
    if all(e.above for e in margins.values()):
        return HOLDS, text + f" Above zero at every common cut ({cuts_text(list(margins))})."
    if any(e.below for e in margins.values()):
        return FAILS, text
    return INCONCLUSIVE, text
