"""Expand a study into its jobs, in dependency order; pure and deterministic.

For every split and seed: baseA and baseB, then for every target half, cut n and treatment one
net, each split with its own treatments, cuts, targets and seeds (StudySpec.experiment). Then the
data-volume experiment: baseA and baseB for every volume split, seed and k images per class. So
a study has

    sum over splits of  len(seeds) * (2 + len(targets) * len(cuts) * len(treatments))
    + 2 * len(volume.splits) * len(volume.seeds) * len(volume.n_train_per_class)
    - 2 * (volume split-seed pairs that the main experiment also runs, if data.n_train_per_class
           is one of the k's: those volume nets are the main base nets, the same job ids)

jobs. A transfer or selffer job `needs` the base net it copies from. The order is topological,
base nets first, then the study's own order. With [study] convergence = f, every target's base
net is also trained f times as long (role "longer"): len(seeds) * len(targets) more per split. A
study with a pretrained
source ([source]) has one split, target B: per seed baseB and, per cut, its treatments (BnB,
BnB+, SnB, SnB+, random; SnB copies from the checkpoint and needs no job):
len(seeds) * (1 + len(cuts) * len(treatments)) jobs.
"""

from __future__ import annotations

import dataclasses
import math

from featuretransfer.specs import HALVES, SOURCE, JobSpec
from featuretransfer.study.studyspec import StudySpec


class PlanError(ValueError):
    """A plan whose needs are missing or circular."""


def treatment_job(
    study: StudySpec, split, seed: int, target: str, n: int, treatment: str
) -> JobSpec:
    """The job of a treatment name (BnB, BnB+, AnB, AnB+, SnB, SnB+, random) for one target."""
    other = HALVES[1 - HALVES.index(target)]
    source = {"BnB": target, "AnB": other, "SnB": SOURCE, "random": ""}[treatment.rstrip("+")]
    return JobSpec(
        study=study.name,
        data=study.data,
        net=study.net,
        train=study.train,
        split=split,
        source=source,
        target=target,
        n_copied=n,
        fine_tune=treatment.endswith("+"),
        seed=seed,
        pretrained=study.source if source == SOURCE else None,
    )


def plan_study(study: StudySpec) -> list[JobSpec]:
    jobs = []
    for split in study.splits:
        run = study.experiment(split)
        for seed in run.seeds:
            for half in ("B",) if study.source else HALVES:  # a source study has no half A
                jobs.append(treatment_job(study, split, seed, half, 0, "BnB"))
            for target in run.targets:
                for n in run.cuts:
                    for treatment in run.treatments:
                        jobs.append(treatment_job(study, split, seed, target, n, treatment))
                if study.convergence:
                    jobs.append(longer_base(study, split, seed, target))
    return order_jobs(jobs + volume_jobs(study))


def longer_base(study: StudySpec, split, seed: int, target: str) -> JobSpec:
    """The target's base net trained `study.convergence` times as long: every period of the
    schedule stretched alike (epochs, milestones, warm-up, fixed steps), the rest unchanged."""
    factor, train = study.convergence, study.train
    longer = dataclasses.replace(
        train,
        epochs=train.epochs * factor,
        lr_milestones=tuple(m * factor for m in train.lr_milestones),
        warmup_epochs=train.warmup_epochs * factor,
        steps=train.steps * factor,
    )
    base = treatment_job(study, split, seed, target, 0, "BnB")
    return dataclasses.replace(base, train=longer, role="longer")


def volume_jobs(study: StudySpec) -> list[JobSpec]:
    """Base nets on the first k training images per class, for every k of [volume].

    Only the data changes, so at the main experiment's k these are its base nets (same ids), and
    order_jobs keeps one of each.
    """
    volume = study.volume
    by_name = {split.name: split for split in study.splits}
    names = volume.splits if volume.splits is not None else (study.splits[0].name,)
    seeds = volume.seeds if volume.seeds is not None else study.seeds
    jobs = []
    for name in names:
        for seed in seeds:
            for k in volume.n_train_per_class:
                data = dataclasses.replace(study.data, n_train_per_class=k)
                for half in HALVES:
                    base = treatment_job(study, by_name[name], seed, half, 0, "BnB")
                    train = study.train
                    if volume.schedule == "steps" and k != study.data.n_train_per_class:
                        steps = main_steps(study, by_name[name].classes(half))
                        train = dataclasses.replace(train, steps=steps)
                    jobs.append(dataclasses.replace(base, data=data, train=train, role="volume"))
    return jobs


def main_steps(study: StudySpec, classes: tuple[int, ...]) -> int:
    """SGD steps of a main base net of a half: `epochs` passes in batches over its images."""
    k = study.data.n_train_per_class
    n = sum(min(study.class_counts[c], k) if k else study.class_counts[c] for c in classes)
    return study.train.epochs * math.ceil(n / study.train.batch_size)


def needs(spec: JobSpec) -> list[str]:
    parent = spec.parent()
    return [parent.id] if parent else []


def order_jobs(jobs: list[JobSpec]) -> list[JobSpec]:
    """Unique jobs in topological order (every base net before the nets that copy it), ties in
    the order given: the study's, split by split, seed, target, cut, treatment, so that `plan`
    reads like the study file. Deterministic; every need must be planned."""
    by_id = {job.id: job for job in jobs}  # first occurrence of each id keeps its place
    for job in by_id.values():
        for need in needs(job):
            if need not in by_id:
                raise PlanError(f"{job.display_name} needs job {need}, which is not in the plan")
    ordered, placed = [], set()
    remaining = list(by_id)
    while remaining:
        ready = [i for i in remaining if all(n in placed for n in needs(by_id[i]))]
        if not ready:
            raise PlanError(f"circular needs among {', '.join(remaining)}")
        ordered += [by_id[i] for i in ready]
        placed.update(ready)
        remaining = [i for i in remaining if i not in placed]
    return ordered
