"""The paper's observations in words: which of them a study's records bear out, with the numbers.

`findings(records)` takes the records of report.load_results and returns one dict per observation
of Yosinski et al. (2014), sections 4.1-4.3: `number`, `claim` (the paper's words, shortened),
`verdict` ("holds", "does not hold" or "not measured") and `text` (one or two sentences with the
numbers). writer.py writes them to report/findings.md and index.html.

Conventions are those of tables.py: top-1 differences in percentage points, each network against
the mean of the controls of its split and target (as Table 1), mean ± half-width of the 95%
t-interval over networks. A difference counts when its CI excludes zero; a point with one network
has no CI, and there a difference counts only beyond SINGLE_NETWORK_NOISE_PTS, as the
decomposition does, and so does one whose controls are a single base net. Observations 1-5 use
the random A/B splits. Pure: no torch, no file IO.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from scipy import stats

from featuretransfer.report.tables import (
    NAN,
    SINGLE_NETWORK_NOISE_PTS,
    above_zero,
    group_scores,
    layers_text,
    main_records,
    mean_ci,
    minus_control,
    n_layers,
    pick,
    table1,
)

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
CLAIMS = {
    1: "AnB ≈ baseB at n = 1-2: the first layers' features are general",
    2: "BnB dips below baseB in the middle layers: fragile co-adaptation",
    3: "BnB+ ≈ baseB: fine-tuning repairs the lost co-adaptation",
    4: "AnB falls as n grows: the top layers' features are specific",
    5: "AnB+ is above baseB: transferred features boost generalisation (Table 1)",
    6: "The dissimilar split's AnB drops more at the top than the random splits', "
    "and random weights fall below transferred features (Figure 3)",
}
FINDINGS_NOTE = (
    "Top-1 differences in percentage points, mean ± half-width of the 95% t-interval over "
    "networks. Each network is compared with the mean base net of its split and target, as in "
    "Table 1; observations 1-5 use the random A/B splits and frozen nets unless marked +. A "
    "difference counts when its CI excludes zero. A point with one network has no CI, and there a "
    f"difference counts only beyond {SINGLE_NETWORK_NOISE_PTS:g} point, the seed-to-seed noise of "
    "one base net; so does every difference whose controls are a single base net, as that net's "
    "own noise is in no CI over the networks compared with it. Differences of two groups "
    "(observation 6) use Welch's interval."
)
NOISE_NOTE = (
    f"a difference counts only beyond {SINGLE_NETWORK_NOISE_PTS:g} point, the seed-to-seed noise "
    "of one net"
)


def findings(records: list[dict]) -> list[dict]:
    """The six observations, each with its verdict and numbers, in the paper's order."""
    records = main_records(records)
    top = n_layers(records) - 1
    anb = gaps(records, "transfer", False, "random")
    bnb = gaps(records, "selffer", False, "random")
    bnb_plus = gaps(records, "selffer", True, "random")
    anb_plus = gaps(records, "transfer", True, "random")
    semantic = gaps(records, "transfer", False, "semantic")
    random_weights = gaps(records, "random", False, None)
    return [
        _general_bottom(*anb),
        _coadaptation_dip(*bnb, top),
        _fine_tuning_repairs(*bnb_plus),
        _specific_top(*anb, top),
        _boost(table1(records), anb_plus[1]),
        _dissimilar_and_random(semantic, random_weights, anb),
    ]


def findings_markdown(found: list[dict]) -> str:
    """report/findings.md: one numbered line per observation, then how the numbers were made."""
    lines = ["# Findings: the paper's observations in these records", ""]
    lines += [f"{f['number']}. **{f['claim']}**: *{f['verdict']}*. {f['text']}" for f in found]
    return "\n".join(lines + ["", FINDINGS_NOTE, ""])


def gaps(records, treatment: str, fine_tuned: bool, kind: str | None) -> tuple[dict, float]:
    """Per cut n, each network's top-1 minus the mean base net of its split and target, in points;
    and the noise floor of those controls.

    Networks whose split and target have no base net give no gap. The floor is
    SINGLE_NETWORK_NOISE_PTS when all the controls are one base net: its own seed noise shifts
    every gap alike, so no CI over the networks holds it. Else it is 0.
    """
    bases = group_scores(pick(records, "base"), "split", "target")
    nets = pick(records, treatment, fine_tuned, kind)
    by_n = defaultdict(list)
    for n, gap in minus_control(nets, bases, "split", "target"):
        by_n[n].append(100 * gap)
    controls = {(r["split"], r["target"]) for r in nets} & set(bases)
    n_bases = sum(len(bases[key]) for key in controls)
    return dict(sorted(by_n.items())), SINGLE_NETWORK_NOISE_PTS if n_bases == 1 else 0.0


def _finding(number: int, verdict: str, text: str, lone=False, floor=0.0) -> dict:
    """`lone`: some point had one network; `floor`: the nets shared one base net."""
    if verdict != NOT_MEASURED and (lone or floor):
        if floor:
            # One base net shifts every gap alike, so its noise is in no CI over the nets.
            why = "The controls rest on one base net" + (
                " and some points on one net" if lone else ""
            )
        else:
            why = "Points with one net have no CI"
        text += f" {why}: {NOISE_NOTE}."
    return {"number": number, "claim": CLAIMS[number], "verdict": verdict, "text": text}


def _counts(mean: float, ci: float, floor: float) -> bool:
    """A positive difference counts when it exceeds its CI and the floor of its controls; without a
    CI (one network) when it exceeds the seed-noise floor."""
    return above_zero(mean, max(ci, floor) if math.isfinite(ci) else ci)


def _needs(nets: str) -> str:
    return f"Needs {nets} on a random split, with the base net of their split and target."


def _below(values: list[float], floor: float) -> bool:
    """Significantly below zero: the CI (or, for one network, the noise floor) excludes it."""
    mean, ci = mean_ci(values)
    return _counts(-mean, ci, floor)


def _lone(*groups: list[float]) -> bool:
    return any(len(g) < 2 for g in groups)


def _points(mean: float, ci: float) -> str:
    """'+1.60 ± 0.42 points'; no '±' where there is no CI."""
    return f"{mean:+.2f}" + (f" ± {ci:.2f}" if math.isfinite(ci) else "") + " points"


def _nets(count: int) -> str:
    return f"{count} net" + ("" if count == 1 else "s")


def _estimate(values: list[float]) -> str:
    """'-2.40 ± 0.80 points (3 nets)'."""
    return f"{_points(*mean_ci(values))} ({_nets(len(values))})"


def _at(by_n: dict[int, list[float]], ns) -> str:
    """'-0.10 points (1 net) at n = 1 and -0.60 points (1 net) at n = 2'."""
    parts = [f"{_estimate(by_n[n])} at n = {n}" for n in ns]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _lowest(by_n: dict[int, list[float]], ns) -> int:
    return min(ns, key=lambda n: statistics.fmean(by_n[n]))


# --- the observations ----------------------------------------------------------------------


def _general_bottom(anb: dict, floor: float) -> dict:
    """(1) Paper: 'Layers one and two transfer almost perfectly from A to B'."""
    cuts = [n for n in anb if n <= 2]
    if not cuts:
        return _finding(1, NOT_MEASURED, _needs("frozen AnB nets at n = 1 or 2"))
    lone = _lone(*(anb[n] for n in cuts))
    if below := [n for n in cuts if _below(anb[n], floor)]:
        text = (
            f"AnB − baseB is {_at(anb, cuts)}: significantly below baseB at {layers_text(below)}."
        )
        return _finding(1, FAILS, text, lone, floor)
    text = (
        f"AnB − baseB is {_at(anb, cuts)}: no significant drop, so these features serve B as "
        "well as B's own."
    )
    return _finding(1, HOLDS, text, lone, floor)


def _coadaptation_dip(bnb: dict, floor: float, top: int) -> dict:
    """(2) Paper: BnB equals baseB at layers 1-2, drops at 3-6 (most at 4-5), recovers by 7."""
    if top < 3:
        text = f"A net with {top + 1} layers has no middle cut between the first and the top one."
        return _finding(2, NOT_MEASURED, text)
    middle = [n for n in bnb if 2 <= n <= top - 1]
    if not middle:
        return _finding(2, NOT_MEASURED, _needs(f"frozen BnB nets at a cut n = 2-{top - 1}"))
    lone = _lone(*(bnb[n] for n in middle))
    if below := [n for n in middle if _below(bnb[n], floor)]:
        deepest = _lowest(bnb, below)
        text = (
            f"BnB − baseB is {_estimate(bnb[deepest])} at n = {deepest}, significantly below "
            f"baseB at {layers_text(below)} (middle cuts run: {', '.join(map(str, middle))})."
        )
        return _finding(2, HOLDS, text, lone, floor)
    deepest = _lowest(bnb, middle)
    text = (
        f"At no middle cut ({layers_text(middle)}) is BnB significantly below baseB; the lowest "
        f"is {_estimate(bnb[deepest])} at n = {deepest}."
    )
    return _finding(2, FAILS, text, lone, floor)


def _fine_tuning_repairs(bnb_plus: dict, floor: float) -> dict:
    """(3) Paper: BnB+ recovers baseB at every cut."""
    if not bnb_plus:
        return _finding(3, NOT_MEASURED, _needs("fine-tuned BnB+ nets"))
    pooled = [g for values in bnb_plus.values() for g in values]
    lone = _lone(*bnb_plus.values())
    below = [n for n in bnb_plus if _below(bnb_plus[n], floor)]
    lowest = _lowest(bnb_plus, below or bnb_plus)
    text = f"BnB+ − baseB is {_estimate(pooled)} over all cuts, and "
    lowest_text = f"; the lowest is {_estimate(bnb_plus[lowest])} at n = {lowest}."
    if below or _below(pooled, floor):
        where = f"at {layers_text(below)}" if below else "over all cuts together"
        text += f"significantly below baseB {where}{lowest_text}"
        return _finding(3, FAILS, text, lone, floor)
    text += f"at no cut significantly below baseB{lowest_text}"
    return _finding(3, HOLDS, text, lone, floor)


def _specific_top(anb: dict, floor: float, top: int) -> dict:
    """(4) Paper: layer 3 drops slightly, layers 4-7 more, by specificity at 6-7."""
    if not anb:
        return _finding(4, NOT_MEASURED, _needs("frozen AnB nets"))
    high, low = max(anb), min(anb)
    where = f"the top cut n = {high}" if high == top else f"n = {high}, the highest cut run"
    text = f"AnB − baseB is {_estimate(anb[high])} at {where}"
    if low < high:
        text += f", against {_estimate(anb[low])} at n = {low}"
    drop = -statistics.fmean(anb[high])
    falls = low == high or drop > -statistics.fmean(anb[low])
    lone = _lone(anb[high], anb[low])
    if _below(anb[high], floor) and falls:
        return _finding(4, HOLDS, f"{text}: AnB ends {drop:.2f} points below baseB.", lone, floor)
    reason = "no significant drop at the top" if falls else "no fall from the lowest cut"
    return _finding(4, FAILS, f"{text}: {reason}.", lone, floor)


def _boost(rows: list[dict], floor: float) -> dict:
    """(5) Paper: +1.6 points over layers 1-7, +2.1 over 5-7 (Table 1)."""
    row = rows[0] if rows else None
    if row is None or not row["n_vs_base"]:
        return _finding(5, NOT_MEASURED, _needs("fine-tuned AnB+ nets"))
    boost, ci = row["boost_vs_base"], row["ci95_vs_base"]
    text = (
        f"AnB+ − baseB is {_points(boost, ci)} over layers {row['layers']} "
        f"({_nets(row['n_vs_base'])}, Table 1)"
    )
    lone = row["n_vs_base"] < 2
    if row["n_vs_selffer"]:
        versus, ci_versus = row["boost_vs_selffer"], row["ci95_vs_selffer"]
        text += f"; over BnB+ it is {_points(versus, ci_versus)} ({_nets(row['n_vs_selffer'])})"
        lone = lone or row["n_vs_selffer"] < 2
        if _counts(boost, ci, floor) and not _counts(versus, ci_versus, 0.0):
            # The paper's argument against longer training needs AnB+ above BnB+ as well.
            text += (
                ": BnB+, trained as long, does as well, so longer training may explain the boost"
            )
    if _counts(boost, ci, floor):
        return _finding(5, HOLDS, text + ".", lone, floor)
    return _finding(5, FAILS, text + ": AnB+ is not significantly above baseB.", lone, floor)


def _dissimilar_and_random(semantic: tuple, random_weights: tuple, anb: tuple) -> dict:
    """(6) Paper: at the top the dissimilar split drops 25 points against 8 for random splits,
    and even distant features beat random ones. Arguments: gaps() of each group."""
    parts = [_dissimilar(*semantic, *anb), _random_weights(*random_weights, *anb)]
    verdicts = [verdict for verdict, _, _, _ in parts]
    verdict = FAILS if FAILS in verdicts else NOT_MEASURED if NOT_MEASURED in verdicts else HOLDS
    measured = [part for part in parts if part[0] != NOT_MEASURED]
    lone = any(part[2] for part in measured)
    floor = max((part[3] for part in measured), default=0.0)
    return _finding(6, verdict, " ".join(part[1] for part in parts), lone, floor)


def _dissimilar(semantic, floor_semantic, anb, floor_anb) -> tuple[str, str, bool, float]:
    common = sorted(set(semantic) & set(anb))
    if not common:
        needs = "Dissimilar split: needs frozen AnB nets at a common cut on a semantic split and "
        return NOT_MEASURED, needs + "on a random split, with their base nets.", False, 0.0
    n, floor = common[-1], max(floor_semantic, floor_anb)
    more, ci = difference(anb[n], semantic[n])  # AnB - base is negative: a larger drop is lower
    text = (
        f"Dissimilar split: at n = {n} AnB − base is {_estimate(semantic[n])} against "
        f"{_estimate(anb[n])} on the random splits; the dissimilar drop is larger by "
        f"{_points(more, ci)}."
    )
    verdict = HOLDS if _counts(more, ci, floor) else FAILS
    return verdict, text, _lone(semantic[n], anb[n]), floor


def _random_weights(random_weights, floor_random, anb, floor_anb) -> tuple[str, str, bool, float]:
    common = sorted(set(random_weights) & set(anb))
    if not common:
        needs = "Random weights: needs frozen random-weights nets and frozen AnB nets on a "
        return (
            NOT_MEASURED,
            needs + "random split at a common cut, with their base nets.",
            False,
            0.0,
        )
    floor = max(floor_random, floor_anb)
    margins = {n: difference(anb[n], random_weights[n]) for n in common}
    lone = _lone(*(random_weights[n] for n in common), *(anb[n] for n in common))
    n = min(common, key=lambda n: margins[n][0])
    smallest = (
        f"AnB − random weights is {_points(*margins[n])} at n = {n} "
        f"({_nets(len(anb[n]))} vs {_nets(len(random_weights[n]))} of random weights)"
    )
    if not_below := [n for n in common if not _counts(*margins[n], floor)]:
        text = f"Random weights: not significantly below frozen AnB at {layers_text(not_below)}"
        return FAILS, f"{text}; {smallest}.", lone, floor
    text = f"Random weights: below frozen AnB at every common cut ({layers_text(common)})"
    return HOLDS, f"{text}; the smallest margin: {smallest}.", lone, floor


def difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """mean(a) - mean(b) and the half-width of its 95% Welch interval; nan below two a side."""
    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return diff, NAN
    var_a, var_b = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if var_a + var_b == 0:
        return diff, 0.0
    dof = (var_a + var_b) ** 2 / (var_a**2 / (len(a) - 1) + var_b**2 / (len(b) - 1))
    return diff, float(stats.t.ppf(0.975, dof)) * math.sqrt(var_a + var_b)
