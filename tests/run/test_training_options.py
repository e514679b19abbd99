"""Training options beyond the first release: bias lr and decay, augmentation, n_outputs,
precision, and the rule that keeps old job ids when such a field stays at its neutral value."""

import dataclasses
import json
import math

import pytest
import torch

from featuretransfer.nets.caffe import ConvNet8
from featuretransfer.nets.treatments import TreatmentError, trainable_parameters
from featuretransfer.run.job import cache_cut, run_job
from featuretransfer.run.train import Images, augmenter, make_optimizer
from featuretransfer.specs import TrainSpec
from featuretransfer.study import store
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study, preset_path


def test_default_preset_keeps_its_job_ids():
    # ids of the first release: new fields at their neutral value must not change them
    jobs = plan_study(load_study(preset_path("fashion-mnist")))
    first_release = {"8760d5c575af", "c3ace622714c", "026cb7e9c1f3"}  # baseA, baseB, a transfer
    assert [j.id for j in jobs[:2]] == ["8760d5c575af", "c3ace622714c"]
    assert first_release <= {j.id for j in jobs}
    changed = dataclasses.replace(jobs[0], train=dataclasses.replace(jobs[0].train, mirror=True))
    assert changed.id != jobs[0].id


def test_bias_groups_follow_caffe():
    model = ConvNet8(5, width=0.1)
    spec = TrainSpec(lr=0.01, weight_decay=5e-4, bias_lr_mult=2.0, bias_decay=False)
    optimizer = make_optimizer(trainable_parameters(model), spec)
    weights, biases = optimizer.param_groups
    assert all(p.ndim > 1 for p in weights["params"]) and len(biases["params"]) == 8
    assert all(p.ndim == 1 for p in biases["params"])
    assert (weights["weight_decay"], biases["weight_decay"]) == (5e-4, 0.0)
    assert (weights["lr_mult"], biases["lr_mult"]) == (1.0, 2.0)
    assert len(make_optimizer(trainable_parameters(model), TrainSpec()).param_groups) == 1


def test_augmenter_is_seeded_and_crops():
    spec = TrainSpec(crop=24, mirror=True)
    x = torch.arange(2 * 28 * 28, dtype=torch.uint8).reshape(2, 1, 28, 28)
    first, _ = augmenter(spec, seed=3)
    again, _ = augmenter(spec, seed=3)
    crops = first(x)
    assert crops.shape == (2, 1, 24, 24) and torch.equal(crops, again(x))
    assert not torch.equal(first(x), crops)  # the stream moves on: new windows next batch
    assert augmenter(TrainSpec(), seed=3)[0] is None
    images = Images(x, torch.zeros(2, dtype=torch.int64), crop=24)
    assert images.batch(torch.arange(2), "cpu")[0].shape == (2, 1, 24, 24)  # centre crop


def test_augmented_job_is_reproducible_and_uncached(tmp_path, tiny_job):
    train = dataclasses.replace(tiny_job["baseB"].train, crop=24, crop_pad=2, mirror=True)
    base = dataclasses.replace(tiny_job["baseB"], train=train)
    records = []
    for out in (tmp_path / "a", tmp_path / "b"):
        folder = run_job(base, out)
        records.append(json.loads((folder / "record.json").read_text()))
    for record in records:
        record.pop("seconds")
        record["spec"].pop("code", None)
    assert records[0] == records[1]
    state = torch.load(folder / "model.pt", weights_only=True)
    assert state["fc6.weight"].shape[1] == ConvNet8(5, 0.1, image_size=24).fc6.in_features
    frozen = dataclasses.replace(tiny_job["B5B"], train=train)
    assert cache_cut(ConvNet8(5, 0.1), frozen) == 0  # random crops: no cached prefix


def test_base_nets_record_train_top1(tmp_path, tiny_job):
    base = json.loads((run_job(tiny_job["baseB"], tmp_path) / "record.json").read_text())
    assert 0 <= base["train_top1"] <= 1 and base["n_train_per_class"] == 0
    treated = json.loads((run_job(tiny_job["B2B"], tmp_path) / "record.json").read_text())
    assert math.isnan(treated["train_top1"])


def test_n_outputs_widens_the_classifier(tmp_path, tiny_job):
    wide = dataclasses.replace(
        tiny_job["baseB"], net=dataclasses.replace(tiny_job["baseB"].net, n_outputs=10)
    )
    folder = run_job(wide, tmp_path)
    assert torch.load(folder / "model.pt", weights_only=True)["fc8.bias"].shape == (10,)
    narrow = dataclasses.replace(wide, net=dataclasses.replace(wide.net, n_outputs=3))
    with pytest.raises(TreatmentError, match="fewer than the 5 classes"):
        run_job(narrow, tmp_path)
    assert store.job_state(tmp_path, wide.id) == store.DONE


def test_bf16_precision_trains(tmp_path, tiny_job):
    train = dataclasses.replace(tiny_job["baseB"].train, precision="bf16", epochs=1)
    record = json.loads(
        (
            run_job(dataclasses.replace(tiny_job["baseB"], train=train), tmp_path) / "record.json"
        ).read_text()
    )
    assert record["status"] == "done" and 0 <= record["top1"] <= 1


def test_caffe_input_scale_subtracts_the_mean_only(tiny_job):
    from featuretransfer.run.job import target_data

    job = tiny_job["baseB"]
    caffe = dataclasses.replace(job, data=dataclasses.replace(job.data, normalize="mean"))
    default_train, caffe_train = target_data(job)[0], target_data(caffe)[0]
    assert caffe_train.mean == default_train.mean and caffe_train.std == 1.0
    assert default_train.std > 10  # uint8 units
    assert caffe.id != job.id
