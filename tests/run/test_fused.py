"""Several nets in one pass give what each gives alone (to float tolerance, on CPU)."""

import copy
import json
from dataclasses import replace

import pytest
import torch

from featuretransfer import store
from featuretransfer.nets.caffe import ConvNet8
from featuretransfer.run import runner
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.fused import train_fused
from featuretransfer.run.images import Images
from featuretransfer.run.job import fuse_key, run_fused, run_job
from featuretransfer.run.runner import run_jobs
from featuretransfer.run.train import train
from featuretransfer.specs import NetSpec, TrainSpec
from featuretransfer.study.plan import plan_study

TOLERANCE = 1e-5  # float32 sums in another order; measured differences are ~1e-8


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE


@pytest.mark.parametrize("steps", [0, 7])  # passes over the data, or fixed steps (one loop)
def test_fused_training_equals_lone_training(steps):
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (96, 1, 28, 28), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 5, (96,), generator=generator)
    data, val = Images(x, y, 100.0, 50.0), Images(x[:32], y[:32], 100.0, 50.0)
    spec = TrainSpec(
        epochs=2,
        batch_size=32,
        lr=0.02,
        lr_milestones=(1,),
        bias_lr_mult=2.0,
        precision="fp32",
        steps=steps,
    )
    models = [ConvNet8(5, 0.1).to(memory_format=torch.channels_last) for _ in range(3)]
    alone = [copy.deepcopy(m) for m in models]
    lone_results = []
    for i, model in enumerate(alone):
        torch.manual_seed(100 + i)  # the dropout stream, as run_job seeds it
        lone_results.append(train(model, data, val, spec, seed=10 + i))
    fused_results = train_fused(models, data, val, spec, [10, 11, 12], [100, 101, 102])
    for (lone, _), (fused, _), a, b in zip(lone_results, fused_results, alone, models):
        assert [h["val_acc"] for h in lone] == [h["val_acc"] for h in fused]
        assert all(close(p["train_loss"], q["train_loss"]) for p, q in zip(lone, fused))
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(p, q, atol=TOLERANCE, rtol=0)
    # each net has its own init, data order and dropout: the nets differ
    assert not torch.equal(models[0].fc6.weight, models[1].fc6.weight)


def records(out) -> dict[str, dict]:
    return {r["job_id"]: r for r in store.load_records(out)}


def test_fused_jobs_give_the_records_of_lone_jobs(tmp_path, tiny_study, monkeypatch):
    jobs = plan_study(tiny_study)
    calls = []
    monkeypatch.setattr(runner, "run_fused", lambda g, *a: calls.append(g) or run_fused(g, *a))
    run_jobs(jobs, tmp_path / "fused", InlineExecutor(), show_progress=False, fuse=8)
    run_jobs(jobs, tmp_path / "alone", InlineExecutor(), show_progress=False, fuse=1)
    # only nets that train every layer on half B's images fuse, each once, and all of them
    # (which base net is ready first, and so the grouping, follows the ids); baseA trains
    # alone: no other net sees half A's images
    fused_names = [j.display_name.split(":")[1] for group in calls for j in group]
    assert all(len({fuse_key(j) for j in group}) == 1 for group in calls)
    assert sorted(fused_names) == sorted(set(fused_names))
    assert set(fused_names) <= {"A2B+#0", "A5B+#0", "B2B+#0", "B5B+#0", "baseB#0"}
    assert len(fused_names) >= 4 and max(len(group) for group in calls) >= 3
    fused, alone = records(tmp_path / "fused"), records(tmp_path / "alone")
    assert fused.keys() == alone.keys() and len(fused) == 12
    for job_id, record in alone.items():
        other = fused[job_id]
        assert close(record["top1"], other["top1"]), record["name"]
        for p, q in zip(record["history"], other["history"]):
            assert close(p["train_loss"], q["train_loss"]) and close(p["val_acc"], q["val_acc"])


class Crash(Exception):
    pass


def test_an_interrupted_fused_job_goes_on_alone(tmp_path, tiny_study):
    jobs = plan_study(tiny_study)
    bases = [j for j in jobs if j.treatment == "base"]
    plus = [j for j in jobs if j.fine_tune]
    for out in (tmp_path / "a", tmp_path / "b"):
        for base in bases:
            run_job(base, out)
    for job in plus:
        run_job(job, tmp_path / "a")

    def crash_after_epoch_1(step, total, metrics):
        if metrics.get("epoch") == 1:
            raise Crash

    with pytest.raises(Crash):
        run_fused(plus, tmp_path / "b", [crash_after_epoch_1] * len(plus))
    for job in plus:
        assert (store.job_dir(tmp_path / "b", job.id) / "checkpoint.pt").is_file()
        folder = run_job(job, tmp_path / "b")  # alone, from the fused run's checkpoint
        assert "resumed after epoch 1" in (folder / "log.txt").read_text()
        resumed = json.loads((folder / "record.json").read_text())
        lone = json.loads((store.job_dir(tmp_path / "a", job.id) / "record.json").read_text())
        assert close(resumed["top1"], lone["top1"])
        assert [h["epoch"] for h in resumed["history"]] == [1, 2]
        assert close(resumed["history"][1]["train_loss"], lone["history"][1]["train_loss"])


def test_only_nets_that_train_every_layer_fuse(tiny_job):
    assert fuse_key(tiny_job["B2B"]) is None and fuse_key(tiny_job["R5B"]) is None
    assert fuse_key(tiny_job["B2B+"]) == fuse_key(tiny_job["A5B+"]) == fuse_key(tiny_job["baseB"])
    assert fuse_key(tiny_job["baseA"]) != fuse_key(tiny_job["baseB"])  # other images
    other = replace(tiny_job["B2B+"], train=replace(tiny_job["B2B+"].train, epochs=9))
    assert fuse_key(other) != fuse_key(tiny_job["B2B+"])


def test_a_diverging_net_stops_alone_and_the_others_go_on():
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 255, (64, 1, 28, 28), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 5, (64,), generator=generator)
    data = Images(x, y, 100.0, 50.0)
    spec = TrainSpec(epochs=2, batch_size=32, lr=0.02, lr_milestones=(), precision="fp32")
    models = [ConvNet8(5, 0.1).to(memory_format=torch.channels_last) for _ in range(2)]
    with torch.no_grad():
        models[1].fc8.weight.fill_(float("inf"))  # its loss is not finite from the first step
    alone = copy.deepcopy(models[0])
    torch.manual_seed(100)
    lone_history, _ = train(alone, data, data, spec, seed=10)
    events = []
    results = train_fused(
        models, data, data, spec, [10, 11], [100, 101], progress=lambda s, t, m: events.append(m)
    )
    (history, diverged), (bad_history, bad_diverged) = results
    assert (diverged, bad_diverged) == (False, True) and bad_history == []
    assert [h["val_acc"] for h in history] == [h["val_acc"] for h in lone_history]
    assert [m[1] for m in events if m] == [None, None]  # no metrics ever for the diverged net


def test_batch_norm_nets_never_fuse(tiny_job):
    job = tiny_job["baseB"]
    resnet = replace(job, net=NetSpec(name="resnet18", width=0.1, dropout=0.0))
    assert fuse_key(job) is not None and fuse_key(resnet) is None  # vmap cannot update BN stats
    # fixed steps train in the same epoch loop, stacked or alone (train.fit)
    assert fuse_key(replace(job, train=replace(job.train, steps=10))) is not None
