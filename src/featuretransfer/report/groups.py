"""A study's records by base group (Groups): each group's base net and treatments per cut,
the differences inside each group (Diff, via Side), and one net's seed-to-seed noise measured
from reseeded base nets (seed_noise). evidence.py turns the differences into estimates over
independent units. Pure: no torch, no file IO.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from featuretransfer.report.evidence import (
    Diff,
    Estimate,
    Noise,
    estimate,
    finished,
    group_key,
    kind_of,
    near_chance,
    paper_label,
    sampling_variance,
)
from featuretransfer.specs import ReportSpec


def seed_noise(records: list[dict], rules: ReportSpec) -> Noise:
    """One net's seed-to-seed SD (points), pooled over the (split, half) whose main base nets
    have two or more seeds; the stated noise where none has."""
    by_half = defaultdict(list)
    for r in records:
        if r["treatment"] == "base" and r.get("role", "main") == "main":
            by_half[(r["split"], r["target"])].append(100 * r["top1"])
    pairs = [v for v in by_half.values() if len(v) >= 2]
    if not pairs:
        return Noise(rules.noise)
    dof = sum(len(v) - 1 for v in pairs)
    pooled = sum((len(v) - 1) * statistics.variance(v) for v in pairs) / dof
    return Noise(math.sqrt(pooled), len(pairs))


class Groups:
    """A study's records by base group: the base net's top-1 and each treatment's per cut.

    `scores[g][label][n]` is the mean top-1 (a fraction) of the nets of group g with the paper's
    label (BnB, BnB+, AnB, AnB+, random weights, random weights+) at cut n; a table with duplicate
    rows gives several. Groups without a finished base net enter no comparison with it. Nets at
    chance are left out (`at_chance` lists them). `noise` is one net's seed noise (seed_noise).
    """

    def __init__(self, records: list[dict], kind: str | None = "random", rules=None):
        rules = rules or ReportSpec()
        bases, longer = defaultdict(list), defaultdict(list)
        nets = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        done = finished(records, kind)
        for r in done:
            if r["treatment"] == "base":
                role = r.get("role", "main")
                if role in ("main", "longer"):
                    (bases if role == "main" else longer)[group_key(r)].append(r)
            else:
                nets[group_key(r)][paper_label(r)][r["n_copied"]].append(r)
        self.base = {g: _mean(v) for g, v in bases.items()}
        self.longer = {g: _mean(v) for g, v in longer.items()}  # the convergence check
        self.scores = {
            g: {label: {n: _mean(v) for n, v in by_n.items()} for label, by_n in x.items()}
            for g, x in nets.items()
        }
        self.at_chance = [
            r for r in records if near_chance(r) and (kind is None or kind_of(r) == kind)
        ]
        self.noise = seed_noise(done, rules)

    def cuts(self, label: str) -> list[int]:
        """The cuts at which some group has a net of `label` and a base net."""
        return sorted({n for g in self.with_base() for n in self.scores[g].get(label, {})})

    def with_base(self) -> list[tuple]:
        return sorted((g for g in self.scores if g in self.base), key=str)

    def score(self, g: tuple, label: str, n: int) -> Side | None:
        if label == "base":
            return self.base.get(g)
        return self.scores.get(g, {}).get(label, {}).get(n)

    def vs_base(self, label: str, n: int) -> dict[tuple, Diff]:
        """Per group: top-1 of `label` at cut n minus the group's base net, in points."""
        return self.contrast((label, n), ("base", n))

    def contrast(self, first: tuple[str, int], second: tuple[str, int]) -> dict[tuple, Diff]:
        """Per group with both: top-1 of (label, n) `first` minus that of `second`, in points;
        label "base" means the group's base net."""
        values = {}
        for g in self.with_base():
            a, b = self.score(g, *first), self.score(g, *second)
            if a is not None and b is not None:
                values[g] = a - b
        return values

    def longer_training(self) -> dict[tuple, Diff]:
        """Per group: its base net trained longer ([study] convergence) minus its base net: near
        zero where the base nets have converged."""
        return {
            g: self.longer[g] - self.base[g] for g in sorted(self.longer, key=str) if g in self.base
        }

    def mean_over_cuts(self, label: str, cuts: list[int], minus: str = "base") -> dict:
        """Per group: the mean over `cuts` (those it has) of `label` minus `minus` at the same
        cut, in points (each net of the group once, as the paper averaged over networks)."""
        values = {}
        for g in self.with_base():
            pairs = [
                (self.score(g, label, n), self.score(g, minus, n))
                for n in cuts
                if self.score(g, label, n) is not None and self.score(g, minus, n) is not None
            ]
            if pairs:
                first = Side.mean([a for a, _ in pairs])
                second = self.base[g] if minus == "base" else Side.mean([b for _, b in pairs])
                values[g] = first - second
        return values

    def estimate(self, diffs: dict[tuple, Diff], rules: ReportSpec) -> Estimate:
        return estimate(diffs, rules, self.noise)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a top-1 (fraction), the independently trained nets it
    averages, and its test-set binomial variance (points^2)."""

    top1: float
    nets: int = 1
    sampling: float = 0.0

    def __sub__(self, other: Side) -> Diff:
        return Diff(
            100 * (self.top1 - other.top1),
            1 / self.nets + 1 / other.nets,
            self.sampling + other.sampling,
        )

    @staticmethod
    def mean(sides: list[Side]) -> Side:
        k = len(sides)
        return Side(
            statistics.fmean(s.top1 for s in sides),
            sum(s.nets for s in sides),
            sum(s.sampling for s in sides) / k**2,
        )


def _mean(records: list[dict]) -> Side:
    """Duplicate rows of one group, label and cut (a hand-made table): their mean, counted as
    one trained net each."""
    return Side.mean([Side(r["top1"], 1, sampling_variance(r)) for r in records])
