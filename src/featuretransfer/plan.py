"""Expand a study into its jobs, in dependency order; pure and deterministic.

For every split and seed: baseA and baseB, then for every target half, cut n and treatment one
net. So a study has  len(splits) * len(seeds) * (2 + len(targets) * len(cuts) * len(treatments))
jobs. A transfer or selffer job `needs` the base net it copies from.
"""

from __future__ import annotations

from featuretransfer.config import HALVES, JobSpec
from featuretransfer.study import StudySpec


class PlanError(ValueError):
    """A plan whose needs are missing or circular."""


def treatment_job(
    study: StudySpec, split, seed: int, target: str, n: int, treatment: str
) -> JobSpec:
    """The job of a treatment name (BnB, BnB+, AnB, AnB+, random) for one target half."""
    other = HALVES[1 - HALVES.index(target)]
    source = {"BnB": target, "AnB": other, "random": "random"}[treatment.rstrip("+")]
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
    )


def plan_study(study: StudySpec) -> list[JobSpec]:
    jobs = []
    for split in study.splits:
        for seed in study.seeds:
            for half in HALVES:
                jobs.append(treatment_job(study, split, seed, half, 0, "BnB"))
            for target in study.targets:
                for n in study.cuts:
                    for treatment in study.treatments:
                        jobs.append(treatment_job(study, split, seed, target, n, treatment))
    return order_jobs(jobs)


def needs(spec: JobSpec) -> list[str]:
    parent = spec.parent()
    return [parent.id] if parent else []


def order_jobs(jobs: list[JobSpec]) -> list[JobSpec]:
    """Unique jobs in topological order, ties broken by id; every need must be planned."""
    by_id = {job.id: job for job in jobs}
    for job in by_id.values():
        for need in needs(job):
            if need not in by_id:
                raise PlanError(f"{job.display_name} needs job {need}, which is not in the plan")
    ordered, placed = [], set()
    remaining = sorted(by_id)
    while remaining:
        ready = [i for i in remaining if all(n in placed for n in needs(by_id[i]))]
        if not ready:
            raise PlanError(f"circular needs among {', '.join(remaining)}")
        ordered += [by_id[i] for i in ready]
        placed.update(ready)
        remaining = [i for i in remaining if i not in placed]
    return ordered
