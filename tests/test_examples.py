"""Every example study plans, and the pretrained-source example runs (tiny, on fake data)."""

import dataclasses
import shutil
from pathlib import Path

import torch

from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.job import check_models, run_job
from featuretransfer.run.runner import run_jobs
from featuretransfer.specs import TrainSpec
from featuretransfer.study import store
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import StudySpec, load_study

EXAMPLES = Path(__file__).parents[1] / "examples"
TINY_TRAIN = TrainSpec(
    epochs=1, batch_size=32, lr=0.02, lr_milestones=(), best_k=1, precision="fp32"
)


def tiny(study: StudySpec, **changes) -> StudySpec:
    data = dataclasses.replace(study.data, n_val=40)
    return dataclasses.replace(study, data=data, train=TINY_TRAIN, **changes)


def test_every_example_plans_and_the_source_example_runs(tmp_path, fake_data):
    # the examples' layout: examples/*.toml beside runs/, as in the repository
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    studies = sorted((tmp_path / "examples").glob("*.toml"))
    assert [p.name for p in studies] == ["my-model.toml", "pretrained-source.toml"]
    first = load_study(tmp_path / "examples" / "my-model.toml", data_path=str(fake_data))
    assert len(plan_study(first)) == 2 + 4 * 4
    base_a = next(j for j in plan_study(tiny(first)) if j.display_name == "s0:baseA#0")
    run_job(base_a, tmp_path / "runs" / "my-model")  # the source: the first example's baseA

    second = load_study(tmp_path / "examples" / "pretrained-source.toml", str(fake_data))
    assert len(plan_study(second)) == 1 + 4 * 5
    assert second.splits[0].B == (2, 4, 5, 6, 9)  # the classes the source never saw
    jobs = plan_study(tiny(second, cuts=(2,)))
    check_models(jobs)
    summary = run_jobs(
        jobs, tmp_path / "runs" / "pretrained-source", InlineExecutor(), show_progress=False
    )
    assert not summary.failed and len(summary.trained) == 6
    source = store.load_weights(second.source.path)
    net = next(j for j in jobs if j.display_name == "target:S2B#0")
    got = store.load_weights(
        store.job_dir(tmp_path / "runs" / "pretrained-source", net.id) / store.WEIGHTS
    )
    for key in source:  # stem and block1 frozen from the source: batch-norm statistics too
        if key.endswith("num_batches_tracked"):  # the same step count in source and net
            continue
        assert torch.equal(got[key], source[key]) == key.startswith(("stem.", "block1.")), key
