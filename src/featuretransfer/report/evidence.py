"""The statistics behind every verdict: base groups as replicates, intervals, tests.

The unit of replication is the *base group*: one split, seed and target half, i.e. one base net
and the nets trained against it (copied from it or from the other half's base net of the same
split and seed, and trained on its half). Nets of one group share that base net's luck, so they
are not independent replicates; groups are. Every comparison is made inside a group first (a net
against its own group's base net, AnB against BnB at the same cut), and intervals run over
groups, so the base net's seed noise is in them.

An `Estimate` is the mean of per-group values (top-1 differences, in percentage points) with the
interval that each one-sided test at level alpha reads off: with G >= 2 groups, the t-interval
over groups at 1 - 2 alpha (90% for alpha = 0.05); with one group none can be measured, and the
interval is the value +- the stated seed-to-seed noise of one net (ReportSpec.noise, 1 point by
default), marked `measured = False`. The rules (docs/statistics.md has them with a worked
example):

- a difference is *above* zero when the interval's low end is, *below* when its high end is;
- an equality holds by two one-sided tests (TOST) when the interval lies inside +- margin, and is
  refuted when it lies wholly outside [-margin, +margin]; otherwise it is inconclusive;
- a claim about several cuts at once (a dip in the middle) corrects the cuts' p-values by Holm.

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
HOLDS, FAILS, INCONCLUSIVE, NOT_MEASURED = "holds", "does not hold", "inconclusive", "not measured"


@dataclass(frozen=True)
class Estimate:
    """Mean of per-group values with its interval (points); see the module docstring."""

    mean: float
    low: float
    high: float
    n_groups: int
    measured: bool  # an interval over groups; False: +- the stated noise of one net
    p_above: float = NAN  # one-sided p-value of "the mean is above 0" (nan with one group)

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

    def text(self) -> str:
        """'-1.20 [-2.05, -0.35] points (4 groups)'; the one-group case says so."""
        if not math.isfinite(self.mean):
            return "not measured"
        where = (
            f"{self.n_groups} groups"
            if self.measured
            else "1 group: +- the stated noise of one net, no interval measured"
        )
        return f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}] points ({where})"


def estimate(values: list[float], rules: ReportSpec) -> Estimate:
    """The Estimate of per-group values (points) under `rules`."""
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return Estimate(NAN, NAN, NAN, 0, False)
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Estimate(mean, mean - rules.noise, mean + rules.noise, 1, False)
    sem = statistics.stdev(values) / math.sqrt(len(values))
    df = len(values) - 1
    half = float(stats.t.ppf(1 - rules.alpha, df)) * sem
    p_above = float(stats.t.sf(mean / sem, df)) if sem > 0 else (0.0 if mean > 0 else 1.0)
    return Estimate(mean, mean - half, mean + half, len(values), True, p_above)


def welch(first: list[float], second: list[float], rules: ReportSpec) -> Estimate:
    """mean(first) - mean(second) for two independent sets of groups, Welch's interval; with a
    single group on either side, +- the stated noise."""
    if not first or not second:
        return Estimate(NAN, NAN, NAN, 0, False)
    diff = statistics.fmean(first) - statistics.fmean(second)
    n = len(first) + len(second)
    if len(first) < 2 or len(second) < 2:
        return Estimate(diff, diff - rules.noise, diff + rules.noise, n, False)
    v1, v2 = statistics.variance(first) / len(first), statistics.variance(second) / len(second)
    se = math.sqrt(v1 + v2)
    if se == 0:
        return Estimate(diff, diff, diff, n, True, 0.0 if diff > 0 else 1.0)
    df = (v1 + v2) ** 2 / (v1**2 / (len(first) - 1) + v2**2 / (len(second) - 1))
    half = float(stats.t.ppf(1 - rules.alpha, df)) * se
    return Estimate(diff, diff - half, diff + half, n, True, float(stats.t.sf(diff / se, df)))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: the adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# ---- base groups ------------------------------------------------------------------------------


def group_key(record: dict) -> tuple:
    """(split, seed, target): a base net and the nets trained against it."""
    return record["split"], record.get("seed"), record["target"]


# A pretrained-source study's target split stands where the paper's random splits stand, and
# its SnB nets (layers from the source) where AnB nets do: the statistics read them alike.
KIND_AS = {"source": "random"}
LABEL_AS = {"SnB": "AnB", "SnB+": "AnB+"}


def finished(records: list[dict], kind: str | None = None) -> list[dict]:
    """Nets that finished (diverged ones enter no mean), on splits of `kind` (None: all; a
    pretrained source's target split counts as random)."""
    return [
        r
        for r in records
        if r["status"] == "done"
        and (kind is None or KIND_AS.get(r["split_kind"], r["split_kind"]) == kind)
    ]


class Groups:
    """A study's records by base group: the base net's top-1 and each treatment's per cut.

    `scores[g][label][n]` is the top-1 (a fraction) of the nets of group g with the paper's
    label (BnB, BnB+, AnB, AnB+, random weights, random weights+) at cut n; a group with several
    such nets (a table with duplicate rows) takes their mean. Groups without a finished base
    net are left out of every comparison with baseB.
    """

    def __init__(self, records: list[dict], kind: str | None = "random"):
        bases, nets = defaultdict(list), defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        for r in finished(records, kind):
            if r["treatment"] == "base":
                bases[group_key(r)].append(r["top1"])
            else:
                label = LABEL_AS.get(r["label"], r["label"])
                nets[group_key(r)][label][r["n"]].append(r["top1"])
        self.base: dict[tuple, float] = {g: statistics.fmean(v) for g, v in bases.items()}
        self.scores = {
            g: {
                label: {n: statistics.fmean(v) for n, v in by_n.items()}
                for label, by_n in x.items()
            }
            for g, x in nets.items()
        }

    def cuts(self, label: str) -> list[int]:
        """The cuts at which some group has a net of `label` and a base net."""
        return sorted({n for g in self.with_base() for n in self.scores[g].get(label, {})})

    def with_base(self) -> list[tuple]:
        return sorted((g for g in self.scores if g in self.base), key=str)

    def vs_base(self, label: str, n: int) -> list[float]:
        """Per group: top-1 of `label` at cut n minus the group's base net, in points."""
        return [
            100 * (self.scores[g][label][n] - self.base[g])
            for g in self.with_base()
            if n in self.scores[g].get(label, {})
        ]

    def contrast(self, first: tuple[str, int], second: tuple[str, int]) -> list[float]:
        """Per group with both: top-1 of (label, n) `first` minus that of `second`, in points;
        label "base" means the group's base net."""
        values = []
        for g in self.with_base():
            a, b = self.score(g, *first), self.score(g, *second)
            if a is not None and b is not None:
                values.append(100 * (a - b))
        return values

    def score(self, g: tuple, label: str, n: int) -> float | None:
        if label == "base":
            return self.base.get(g)
        return self.scores[g].get(label, {}).get(n)

    def mean_over_cuts(self, label: str, cuts: list[int], minus: str = "base") -> list[float]:
        """Per group: the mean over `cuts` (those it has) of `label` minus `minus` at the same
        cut, in points (each net of the group once, as the paper averaged over networks)."""
        values = []
        for g in self.with_base():
            diffs = [
                self.score(g, label, n) - self.score(g, minus, n)
                for n in cuts
                if self.score(g, label, n) is not None and self.score(g, minus, n) is not None
            ]
            if diffs:
                values.append(100 * statistics.fmean(diffs))
        return values
