"""A pretrained source's study answers its own three questions, in place of the paper's six
A/B observations (findings.py): how deep the source's frozen features serve the target as well as
its own base net, what fine-tuning recovers at each cut, and what freezing saves. The statistics
are evidence.py's, SnB read as AnB; the units are the seeds of the one target split, so the
claims are about this data set. Pure.
"""

from __future__ import annotations

from featuretransfer.report.evidence import NAN, NOT_MEASURED, at_cuts, finding
from featuretransfer.report.groups import Groups
from featuretransfer.report.tables import DEFAULT_RULES, main_records
from featuretransfer.specs import ReportSpec

SOURCE_QUESTIONS = {
    1: "How deep are the source's frozen features as good as the target's own?",
    2: "What does fine-tuning recover at each cut?",
    3: "What does freezing save?",
}


def is_source_study(records: list[dict]) -> bool:
    """A study whose transfer nets copy from a pretrained source (SnB), not from baseA."""
    return any(r["split_kind"] == "source" for r in records)


def source_findings(records: list[dict], rules: ReportSpec = DEFAULT_RULES) -> list[dict]:
    """The user's question of a pretrained source, in place of the paper's six A/B observations:
    up to which unit the source's frozen features serve the target as well as its own base net
    (non-inferiority: SnB − baseB above −margin at that cut and every shallower one), what
    fine-tuning recovers at each cut, and what freezing saves in parameters and time. The units
    are the seeds of the one target split: the claims are about this data set."""
    records = main_records(records, keep_longer=True)
    groups = Groups(records, "random", rules)
    m = rules.margin
    cuts = groups.cuts("AnB")  # SnB is read as AnB by the statistics
    est = {n: groups.estimate(groups.vs_base("AnB", n), rules) for n in cuts}
    rule1 = (
        f"non-inferiority: SnB − baseB lies above −{m:g} point (the interval's low end) at the "
        "cut and at every shallower cut run; SnB above baseB is as good or better"
    )
    if not cuts:
        first = finding(
            SOURCE_QUESTIONS, 1, NOT_MEASURED, "Needs frozen SnB nets with baseB.", rule1
        )
    else:
        good = 0
        for n in cuts:
            if est[n].low <= -m:
                break
            good = n
        worse = [n for n in cuts if est[n].beyond_below(m)]
        text = f"SnB − baseB: {at_cuts(est)}."
        if good:
            verdict = f"up to n = {good}"
            text = (
                f"The source's frozen units 1-{good} are as good as the target's own base net "
                f"(within {m:g} point or better): at n = {good}, {est[good].text()}. " + text
            )
        else:
            verdict = "none"
            text = f"Even the source's first unit is not shown as good as the target's own. {text}"
        if worse:
            text += f" Worse by more than the margin from n = {worse[0]}."
        first = finding(SOURCE_QUESTIONS, 1, verdict, text, rule1)
    plus = groups.cuts("AnB+")
    recovers = {
        n: groups.estimate(groups.contrast(("AnB+", n), ("AnB", n)), rules)
        for n in plus
        if n in cuts
    }
    versus_base = {n: groups.estimate(groups.vs_base("AnB+", n), rules) for n in plus}
    rule2 = "per cut: SnB+ − SnB (what fine-tuning the copied units adds), and SnB+ − baseB"
    if not plus:
        second = finding(SOURCE_QUESTIONS, 2, NOT_MEASURED, "Needs fine-tuned SnB+ nets.", rule2)
    else:
        parts = [
            f"n = {n}: fine-tuning adds {recovers[n].text()}; SnB+ − baseB {versus_base[n].text()}"
            if n in recovers
            else f"n = {n}: SnB+ − baseB {versus_base[n].text()}"
            for n in plus
        ]
        second = finding(SOURCE_QUESTIONS, 2, "measured", "; ".join(parts) + ".", rule2)
    third = finding(SOURCE_QUESTIONS, 3, *_savings(records, cuts))
    return [first, second, third]


def _savings(records: list[dict], cuts: list[int]) -> tuple[str, str, str]:
    """(verdict, text, rule) of what a frozen SnB net saves against baseB: trainable parameters
    (the records' n_trainable of n_parameters) and measured training seconds, mean over seeds."""
    rule = (
        "per cut: the share of the net's parameters a frozen SnB net trains, and its training "
        "seconds against its seed's baseB (as measured here, with its frozen units cached where "
        "the model allows)"
    )
    done = [r for r in records if r["status"] == "done" and r.get("role", "main") == "main"]
    base_seconds = {
        (r["split"], r.get("seed")): r.get("seconds", NAN)
        for r in done
        if r["treatment"] == "base" and r["target"] == "B"
    }
    parts = []
    for n in cuts:
        frozen = [r for r in done if r["label"] == "SnB" and r["n_copied"] == n]
        shares = [
            r["n_trainable"] / r["n_parameters"]
            for r in frozen
            if r.get("n_parameters") and r.get("n_trainable") is not None
        ]
        times = [
            r["seconds"] / base_seconds[(r["split"], r.get("seed"))]
            for r in frozen
            if base_seconds.get((r["split"], r.get("seed")), 0) > 0 and r["seconds"] == r["seconds"]
        ]
        words = []
        if shares:
            words.append(f"trains {100 * sum(shares) / len(shares):.0f}% of the parameters")
        if times:
            words.append(f"took {100 * sum(times) / len(times):.0f}% of baseB's time")
        if words:
            parts.append(f"n = {n}: {' and '.join(words)}")
    if not parts:
        return NOT_MEASURED, "The records hold no parameter counts or times of frozen nets.", rule
    return "measured", "Freezing units 1..n: " + "; ".join(parts) + ".", rule
