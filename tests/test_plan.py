from dataclasses import replace

import pytest

from featuretransfer.plan import PlanError, needs, order_jobs, plan_study
from featuretransfer.splits import random_split
from featuretransfer.study import load_study, preset_path


def test_job_count_is_the_formula(tiny_study):
    study = replace(
        tiny_study,
        splits=(random_split(10, 0), random_split(10, 1)),
        seeds=(0, 1, 2),
        targets=("A", "B"),
    )
    jobs = plan_study(study)
    assert len(jobs) == 2 * 3 * (2 + 2 * 2 * 5)
    assert len({job.id for job in jobs}) == len(jobs)


def test_default_preset_plans_the_main_experiment():
    jobs = plan_study(load_study(preset_path("fashion-mnist")))
    assert len(jobs) == 1 * 1 * (2 + 1 * 7 * 4)
    assert {job.treatment for job in jobs} == {"base", "selffer", "transfer"}


def test_ids_are_stable_and_ignore_the_data_path(tiny_study):
    jobs = plan_study(tiny_study)
    moved = replace(tiny_study, data=replace(tiny_study.data, path="/elsewhere"), name="renamed")
    assert [j.id for j in plan_study(moved)] == [j.id for j in jobs]
    more_epochs = replace(tiny_study, train=replace(tiny_study.train, epochs=3))
    assert not {j.id for j in plan_study(more_epochs)} & {j.id for j in jobs}


def test_needs_are_planned_and_come_first(tiny_study):
    jobs = plan_study(tiny_study)
    position = {job.id: i for i, job in enumerate(jobs)}
    for job in jobs:
        for need in needs(job):
            assert position[need] < position[job.id]
    transfers = [j for j in jobs if j.treatment in ("selffer", "transfer")]
    assert all(len(needs(j)) == 1 for j in transfers)
    assert not any(needs(j) for j in jobs if j.treatment in ("base", "random"))


def test_missing_need_is_an_error(tiny_study):
    jobs = [j for j in plan_study(tiny_study) if j.treatment != "base"]
    with pytest.raises(PlanError, match="not in the plan"):
        order_jobs(jobs)
