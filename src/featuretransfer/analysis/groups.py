"""The base groups of a plan: which net's features are scored on which half's images, and which
measured nets they are checked against.

A base group is (split, seed, target, source): the net whose layers the study copies towards
`target` and the nets it trains from it. source != target is transfer: AnB, AnB+ from baseA
(BnA is folded into AnB, as the paper does), or SnB, SnB+ from a pretrained checkpoint
(source "S"); source == target is selffer: BnB, BnB+ from baseB (AnA into BnB). The source
net gives the features, the target half's images and labels are what is scored.

Every transfer group has an "own" group beside it, (split, seed, target, target): the target's
own base net on the same images, the selffer direction. The transition cut compares the two
at each cut, so the own group is there even where the study trains no BnB (it then has no
measured nets of its own).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from featuretransfer.specs import SOURCE, JobSpec, SplitSpec


@dataclass(frozen=True)
class FeatureNet:
    """A net whose features are taken: a job of the study ("job"), the pretrained checkpoint of
    an SnB job ("source"), or a fresh net of the study's model ("untrained", from `seed`).
    `job` gives its model, data and split (the SnB job itself for the source)."""

    key: str  # unique per net: the job id, "source:<sha256[:12]>", "untrained:<seed>"
    name: str  # for tables: s0:baseA#0, target:source, untrained#1
    job: JobSpec
    kind: str = "job"
    seed: int = 0


def job_net(job: JobSpec) -> FeatureNet:
    return FeatureNet(job.id, job.display_name, job)


def source_net(job: JobSpec) -> FeatureNet:
    """The checkpoint an SnB job copies from, as a net of the study's model."""
    return FeatureNet(
        f"source:{job.pretrained.sha256[:12]}", f"{job.split.name}:source", job, "source"
    )


@dataclass(frozen=True)
class BaseGroup:
    """One source net and the study's nets trained from it towards `target`."""

    split: SplitSpec
    seed: int
    target: str
    source: str
    base: FeatureNet  # the source net: its features are scored
    own: JobSpec  # the target's own base net (baseB for target B)
    jobs: tuple[JobSpec, ...]  # the treatments copying from the source net, by (n, fine_tune)

    @property
    def role(self) -> str:
        return "selffer" if self.source == self.target else "transfer"

    @property
    def name(self) -> str:
        return f"{self.split.name}:{self.source}->{self.target}#{self.seed}"

    @property
    def unit_key(self) -> tuple[str, str, str]:
        """What a seed replicates: (split, source, target)."""
        return (self.split.name, self.source, self.target)

    def treatment(self, fine_tune: bool) -> str:
        """The paper's name of its nets: AnB / AnB+ (transfer), SnB / SnB+ (from a pretrained
        source), BnB / BnB+ (selffer)."""
        letter = "B" if self.role == "selffer" else "S" if self.source == SOURCE else "A"
        return f"{letter}nB" + ("+" if fine_tune else "")


def base_groups(plan: list[JobSpec]) -> list[BaseGroup]:
    """The base groups of a plan, with an own group for every transfer target, sorted by
    (split, seed, target, source): the groups of one split and seed come together."""
    jobs: dict[tuple, list[JobSpec]] = defaultdict(list)
    template: dict[tuple, JobSpec] = {}
    for job in plan:
        if job.treatment in ("transfer", "selffer"):
            key = (job.split.name, job.seed, job.target, job.source)
            jobs[key].append(job)
            template.setdefault(key, job)
            own = (job.split.name, job.seed, job.target, job.target)
            template.setdefault(own, job.base_of(job.target))
    planned = {job.id for job in plan}
    groups = []
    for key, first in sorted(template.items()):
        _, seed, target, source = key
        members = sorted(jobs.get(key, []), key=lambda j: (j.n_copied, j.fine_tune))
        own = first.base_of(first.target)
        if source == SOURCE:
            base = source_net(first)
        else:
            parent = own if source == target else members[0].parent()
            if parent.id not in planned:  # a base net the plan does not train: no group
                continue
            base = job_net(parent)
        groups.append(BaseGroup(first.split, seed, target, source, base, own, tuple(members)))
    return groups
