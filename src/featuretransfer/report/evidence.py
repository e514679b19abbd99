"""The statistics behind every verdict: base groups, independent replicates, intervals, tests.

Pairing. A *base group* is one split, seed and target half: a base net and the nets trained
against it. Every comparison is made inside a group first (a net against its own group's base
net, AnB against BnB at the same cut), so a lucky or unlucky base net never passes for an effect.

Replicates. Groups are not independent: a split's A-target and B-target groups share both base
nets (baseA is the control of one and the source of the other), and the seeds of one split share
its partition and its test images. The unit of replication is therefore the *split*: the groups
of one split are averaged first, and intervals run over splits. A study of a single split (one
random split, or a pretrained source's target) can only speak of that split; there its seeds
are the units, and every text says so.

Intervals. With U >= 2 units: the 1 - 2 alpha t-interval of the mean over units (90% for
alpha = 0.05), so each end is a one-sided test at alpha. With one unit nothing is measured over
replicates: the interval is value +- z(1 - alpha) x the value's standard error from (i) the
seed-to-seed noise of one net, sigma, times the number of independently trained nets in the
value (sqrt(2) sigma for a net minus a net), sigma measured from the study's reseeded base nets
where it has some, else the stated `noise`; and (ii) each net's test-set sampling error,
p (1 - p) / N_test. `measured = False` marks it.

Verdicts. A difference is *above* (below) zero when the interval's low (high) end is; *beyond*
a margin m when the whole interval lies past m; an equality holds by two one-sided tests (the
interval inside +- margin) and is refuted when the interval lies wholly outside; a claim over
several cuts at once corrects them by Holm. Nets at or near chance (top-1 below chance plus a
tenth of the way to perfect) are kept out of every comparison and listed.

Pure: no torch, no file IO.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from scipy import stats

from featuretransfer.specs import ReportSpec

NAN = float("nan")
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
NOT_MEASURED, NOT_JUDGED = "not measured", "not judged"
NEAR_CHANCE = 0.1  # of the way from chance to perfect: a net below it has learnt ~nothing


@dataclass(frozen=True)
class Diff:
    """One base group's value of a comparison, in points of top-1, with what its noise is made
    of: `nets`, its seed variance in units of one net's (2 for one net minus another; 1 + 1/m
    for a base net against the mean of m nets), and `sampling`, its test-set binomial variance
    (points^2; 0 where the test-set sizes are unknown)."""

    value: float
    nets: float = 2.0
    sampling: float = 0.0


@dataclass(frozen=True)
class Noise:
    """One net's seed-to-seed standard deviation of top-1, in points: measured from a study's
    reseeded base nets (`from_pairs` halves with 2 or more seeds), or stated (ReportSpec.noise)."""

    sd: float
    from_pairs: int = 0  # (split, half) with >= 2 reseeded base nets it was pooled over

    @property
    def measured(self) -> bool:
        return self.from_pairs > 0

    def text(self) -> str:
        if self.measured:
            return (
                f"sigma = {self.sd:.2f} point, one net's seed noise measured on the reseeded "
                f"base nets of {self.from_pairs} half(s)"
            )
        return f"sigma = {self.sd:g} point, one net's seed noise as stated (report.noise)"


@dataclass(frozen=True)
class Estimate:
    """Mean of per-unit values (points) with its interval; see the module docstring."""

    mean: float
    low: float
    high: float
    n_units: int
    unit: str  # "split" or "seed" (of a single split), plural in texts
    measured: bool  # an interval over units; False: one unit, from the noise model
    se: float = NAN  # standard error of the mean
    df: float = NAN  # degrees of freedom of the t-interval (inf: the one-unit normal interval)
    noise: Noise | None = None  # what a one-unit interval rests on
    basis: str = ""  # words for an interval not measured over units, where the default's fail

    @property
    def n_groups(self) -> int:  # the number of independent replicates (kept for callers' text)
        return self.n_units

    @property
    def above(self) -> bool:
        return self.low > 0

    @property
    def below(self) -> bool:
        return self.high < 0

    def within(self, margin: float) -> bool:
        """Equivalent to zero: the interval lies inside (-margin, margin)."""
        return -margin < self.low and self.high < margin

    def outside(self, margin: float) -> bool:
        """Not equivalent to zero: the interval lies wholly beyond +- margin."""
        return self.low > margin or self.high < -margin

    def beyond_below(self, margin: float) -> bool:
        """A drop larger than the margin: the interval lies wholly below -margin."""
        return self.high < -margin

    def beyond_above(self, margin: float) -> bool:
        """A gain larger than the margin: the interval lies wholly above +margin."""
        return self.low > margin

    def p_greater(self, threshold: float = 0.0) -> float:
        """One-sided p-value of "the mean is above `threshold`"."""
        if not math.isfinite(self.mean):
            return NAN
        if not self.se > 0:
            return 0.0 if self.mean > threshold else 1.0
        z = (self.mean - threshold) / self.se
        return float(stats.t.sf(z, self.df) if math.isfinite(self.df) else stats.norm.sf(z))

    def p_less(self, threshold: float = 0.0) -> float:
        """One-sided p-value of "the mean is below `threshold`"."""
        return 1.0 - self.p_greater(threshold) if math.isfinite(self.mean) else NAN

    @property
    def p_above(self) -> float:
        return self.p_greater(0.0)

    def text(self) -> str:
        """'-1.20 [-2.05, -0.35] points (4 splits)'; one unit says what its interval rests on."""
        if not math.isfinite(self.mean):
            return "not measured"
        if self.measured:
            where = f"{self.n_units} {self.unit}s"
        elif self.basis:
            where = self.basis
        else:
            basis = self.noise.text() if self.noise else "the stated noise"
            where = (
                f"1 {self.unit}: no replicate, so no interval over replicates; from {basis}, "
                "and the test set's sampling error"
            )
        return f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}] points ({where})"


def at_cuts(estimates: dict[int, Estimate]) -> str:
    """Per-cut estimates in words: "n = 1: +0.20 [...]; n = 2: ..."."""
    return "; ".join(f"n = {n}: {e.text()}" for n, e in estimates.items())


MISSING = Estimate(NAN, NAN, NAN, 0, "split", False)


def estimate(diffs: dict[tuple, Diff], rules: ReportSpec, noise: Noise | None = None) -> Estimate:
    """The Estimate of per-group values (`diffs`: base group -> Diff) under `rules`: groups
    averaged within their unit (the split; the seed where all lie in one split), then over
    units. `noise` (default: the stated one) serves a single unit."""
    diffs = {g: d for g, d in diffs.items() if math.isfinite(d.value)}
    if not diffs:
        return MISSING
    noise = noise or Noise(rules.noise)
    unit, units = units_of(list(diffs))
    values = []
    for members in units.values():
        k = len(members)
        values.append(
            Diff(
                statistics.fmean(diffs[g].value for g in members),
                sum(diffs[g].nets for g in members) / k**2,
                sum(diffs[g].sampling for g in members) / k**2,
            )
        )
    if len(values) == 1:
        (one,) = values
        se = math.sqrt(noise.sd**2 * one.nets + one.sampling)
        half = float(stats.norm.ppf(1 - rules.alpha)) * se
        return Estimate(
            one.value, one.value - half, one.value + half, 1, unit, False, se, math.inf, noise
        )
    means = [v.value for v in values]
    mean, df = statistics.fmean(means), len(means) - 1
    se = statistics.stdev(means) / math.sqrt(len(means))
    half = float(stats.t.ppf(1 - rules.alpha, df)) * se
    return Estimate(mean, mean - half, mean + half, len(means), unit, True, se, df)


def units_of(groups: list[tuple]) -> tuple[str, dict[tuple, list[tuple]]]:
    """The independent units of a set of base groups (split, seed, target): their splits, or,
    where every group lies in one split, their seeds (that split's replicates)."""
    if len({g[0] for g in groups}) >= 2:
        unit, key = "split", lambda g: (g[0],)
    else:
        unit, key = "seed", lambda g: (g[0], g[1])
    units = defaultdict(list)
    for g in groups:
        units[key(g)].append(g)
    return unit, dict(units)


def unit_values(diffs: dict[tuple, Diff]) -> list[float]:
    """The per-unit means of per-group values (units_of): what Welch's test compares."""
    diffs = {g: d for g, d in diffs.items() if math.isfinite(d.value)}
    if not diffs:
        return []
    _, units = units_of(list(diffs))
    return [statistics.fmean(diffs[g].value for g in members) for members in units.values()]


def welch(first: list[float], second: list[float], rules: ReportSpec) -> Estimate:
    """mean(first) - mean(second) for two independent sets of unit values, Welch's interval;
    with a single value on either side, +- z x sqrt(2) x the stated noise."""
    if not first or not second:
        return MISSING
    diff = statistics.fmean(first) - statistics.fmean(second)
    n = len(first) + len(second)
    if len(first) < 2 or len(second) < 2:
        se = math.sqrt(2) * rules.noise
        half = float(stats.norm.ppf(1 - rules.alpha)) * se
        basis = (
            f"{len(first)} against {len(second)} splits; with a single split on one side no "
            f"interval is measured: sqrt(2) x the stated {rules.noise:g} point of one net's noise"
        )
        return Estimate(
            diff, diff - half, diff + half, n, "split", False, se, math.inf, None, basis
        )
    v1, v2 = statistics.variance(first) / len(first), statistics.variance(second) / len(second)
    se = math.sqrt(v1 + v2)
    if se == 0:
        return Estimate(diff, diff, diff, n, "split", True, 0.0, math.inf)
    df = (v1 + v2) ** 2 / (v1**2 / (len(first) - 1) + v2**2 / (len(second) - 1))
    half = float(stats.t.ppf(1 - rules.alpha, df)) * se
    return Estimate(diff, diff - half, diff + half, n, "split", True, se, df)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# ---- records ----------------------------------------------------------------------------------


def group_key(record: dict) -> tuple:
    """(split, seed, target): a base net and the nets trained against it."""
    return record["split"], record.get("seed"), record["target"]


def kind_of(record: dict) -> str:
    """A pretrained source's target split ("source") stands where the paper's random splits
    stand: the statistics read it as one."""
    return "random" if record["split_kind"] == "source" else record["split_kind"]


def paper_label(record: dict) -> str:
    """The paper's label, with a pretrained source's SnB read as AnB (the same comparisons)."""
    return {"SnB": "AnB", "SnB+": "AnB+"}.get(record["label"], record["label"])


def near_chance(record: dict) -> bool:
    """A finished net whose top-1 is below chance plus a tenth of the way to perfect (needs the
    record's n_classes; unknown: never flagged)."""
    classes = record.get("n_classes")
    if not classes or record["status"] != "done":
        return False
    chance = 1 / classes
    return record["top1"] < chance + NEAR_CHANCE * (1 - chance)


def finished(records: list[dict], kind: str | None = None) -> list[dict]:
    """Nets that finished and learnt something (diverged nets and nets at chance enter no
    mean), on splits of `kind` (None: all)."""
    return [
        r
        for r in records
        if r["status"] == "done" and not near_chance(r) and (kind is None or kind_of(r) == kind)
    ]


def sampling_variance(record: dict) -> float:
    """A net's test-set binomial variance of its top-1, in points^2 (0 if N is unknown)."""
    n, p = record.get("n_test"), record["top1"]
    return 1e4 * p * (1 - p) / n if n else 0.0


def finding(claims: dict[int, str], number: int, verdict: str, text: str, rule: str) -> dict:
    """One row of findings.md: claim `number` of `claims` (the paper's observations, or a source
    study's questions), its verdict, the numbers and the rule that decided."""
    return {
        "number": number,
        "claim": claims[number],
        "verdict": verdict,
        "text": text,
        "rule": rule,
    }
