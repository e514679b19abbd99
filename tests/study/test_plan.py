import math
from dataclasses import replace

import pytest
import torch

from featuretransfer.data.registry import load_dataset
from featuretransfer.study.plan import PlanError, needs, order_jobs, plan_study
from featuretransfer.study.splits import random_split
from featuretransfer.study.studyfile import load_study, preset_path


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
    # 5 random splits x (2 base nets + 7 cuts x 4 treatments towards B + a baseB trained
    # twice as long, the convergence check)
    assert len(jobs) == 5 * (2 + 7 * 4 + 1) == 155
    assert {job.treatment for job in jobs} == {"base", "selffer", "transfer"}
    assert {j.split.kind for j in jobs} == {"random"} and len({j.split for j in jobs}) == 5
    assert {j.n_copied for j in jobs if j.n_copied} == set(range(1, 8))
    assert sum(j.role == "longer" for j in jobs) == 5


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


SPLITS = """
[study]
treatments = ["BnB", "BnB+", "AnB", "AnB+"]
cuts = [2, 5]
targets = ["A", "B"]
seeds = [0, 1]
[[splits]]
seed = 0
treatments = ["BnB", "BnB+", "AnB", "AnB+", "random"]
[[splits]]
seed = 1
seeds = [0]
[[splits]]
groups = "apparel-vs-footwear"
treatments = ["AnB", "AnB+"]
targets = ["B"]
"""
VOLUME = "[volume]\nn_train_per_class = [10, 100, 0]\nsplits = ['s0', 's1']\n"


def plan_text(tmp_path, text: str):
    path = tmp_path / "study.toml"
    path.write_text('name = "t"\n' + text)
    return plan_study(load_study(path))


def test_split_overrides_and_volume_count_is_the_formula(tmp_path):
    jobs = plan_text(tmp_path, SPLITS + VOLUME)
    main = 2 * (2 + 2 * 2 * 5) + 1 * (2 + 2 * 2 * 4) + 2 * (2 + 1 * 2 * 2)
    # volume: 2 splits x seeds (0, 1) x 3 k's x 2 halves, less the k = 0 base nets on (s0, 0),
    # (s0, 1) and (s1, 0), which the main experiment plans already
    assert len(jobs) == main + 2 * 2 * 3 * 2 - 2 * 3
    assert len({job.id for job in jobs}) == len(jobs)
    apparel = [j for j in jobs if j.split.name == "apparel-vs-footwear" and j.n_copied]
    assert {(j.source, j.target, j.fine_tune) for j in apparel} == {
        ("A", "B", False),
        ("A", "B", True),
    }
    assert {j.source for j in jobs if j.split.name == "s0"} >= {""}
    assert "random" not in {j.source for j in jobs if j.split.name == "s1"}


def test_volume_adds_base_nets_and_leaves_the_main_jobs_alone(tmp_path):
    main = plan_text(tmp_path, SPLITS)
    jobs = plan_text(tmp_path, SPLITS + VOLUME)
    assert {j.id for j in main} <= {j.id for j in jobs}
    volume = [j for j in jobs if j.id not in {m.id for m in main}]
    assert all(j.treatment == "base" for j in volume)
    assert sorted({j.data.n_train_per_class for j in volume}) == [0, 10, 100]  # (s1, 1) at 0
    for k in (10, 100):
        nets = [j for j in volume if j.data.n_train_per_class == k]
        assert {(j.split.name, j.seed, j.target) for j in nets} == {
            (s, seed, half) for s in ("s0", "s1") for seed in (0, 1) for half in "AB"
        }
    # k = 0 is the main experiment's value: those base nets are the main ones, same id
    main_bases = {j.id for j in main if j.treatment == "base" and j.split.name == "s0"}
    assert len(main_bases) == 4 and not main_bases & {j.id for j in volume}


def test_volume_defaults_to_the_first_split_and_the_study_seeds(tmp_path):
    jobs = plan_text(tmp_path, SPLITS + "[volume]\nn_train_per_class = [30]\n")
    volume = [j for j in jobs if j.data.n_train_per_class == 30]
    assert {(j.split.name, j.seed) for j in volume} == {("s0", 0), ("s0", 1)} and len(volume) == 4


def test_full_preset_plans_all_three_experiments_and_the_volume_one():
    study = load_study(preset_path("fashion-mnist-full"))
    jobs = plan_study(study)
    random_splits = 3 * 3 * (2 + 2 * 7 * 4)  # s0..s2 x seeds 0..2, both targets
    random_control = 3 * 2 * 7  # s0 only: seeds x targets x cuts
    dissimilar = 3 * (2 + 2 * 7 * 4)
    volume = 3 * 2 * (6 - 1)  # seeds x halves x k's, less k = 0 (the main base nets of s0)
    assert len(jobs) == random_splits + random_control + dissimilar + volume == 768
    assert len({job.id for job in jobs}) == len(jobs)


def test_volume_nets_train_as_many_steps_as_the_main_base_net(tmp_path):
    jobs = plan_text(tmp_path, SPLITS + VOLUME)
    labels = load_dataset(load_study(tmp_path / "study.toml").data).train_y
    counts = torch.bincount(labels, minlength=10)
    volume = [j for j in jobs if j.treatment == "base" and j.data.n_train_per_class in (10, 100)]
    assert volume
    for job in volume:
        n = int(counts[list(job.split.classes(job.target))].sum())  # the half's main images
        assert job.train.steps == job.train.epochs * math.ceil(n / job.train.batch_size)
    main = [j for j in jobs if j.treatment == "base" and j.data.n_train_per_class == 0]
    assert main and all(j.train.steps == 0 for j in main)  # the main nets count epochs
    by_epochs = plan_text(tmp_path, SPLITS + VOLUME + "schedule = 'epochs'\n")
    assert all(j.train.steps == 0 for j in by_epochs)
