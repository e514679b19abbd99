"""Training options beyond the first release: bias lr and decay, augmentation, n_outputs,
precision, and the rule that keeps a field at its neutral value out of the job id."""

import dataclasses
import json
import math

import pytest
import torch

from featuretransfer import store
from featuretransfer.nets.caffe import ConvNet8
from featuretransfer.nets.treatments import TreatmentError, trainable_parameters
from featuretransfer.run.images import Images, augmenter
from featuretransfer.run.job import cache_cut, run_job
from featuretransfer.run.schedule import make_optimizer, period_steps
from featuretransfer.run.train import train
from featuretransfer.specs import TrainSpec, scientific_fields
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study, preset_path


def test_every_training_setting_is_in_the_id():
    job = plan_study(load_study(preset_path("fashion-mnist")))[0]
    assert scientific_fields(job)["train"]["mirror"] is False  # hashed at its default too
    changed = dataclasses.replace(job, train=dataclasses.replace(job.train, mirror=True))
    assert scientific_fields(changed)["train"]["mirror"] is True and changed.id != job.id


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
    state = store.load_weights(folder / store.WEIGHTS)
    assert state["fc6.weight"].shape[1] == ConvNet8(5, 0.1, image_size=24).fc6.in_features
    frozen = dataclasses.replace(tiny_job["B5B"], train=train)
    assert cache_cut(ConvNet8(5, 0.1), frozen) == 0  # random crops: no cached prefix


def test_every_net_records_train_top1(tmp_path, tiny_job):
    """The fit to its own training images, for base nets and treatments alike; a frozen net's,
    scored on its cached features, is what the whole net gives on the images."""
    from featuretransfer.nets.registry import build_model
    from featuretransfer.run.images import evaluate
    from featuretransfer.run.job import target_data
    from featuretransfer.specs import seed_hash

    base = json.loads((run_job(tiny_job["baseB"], tmp_path) / "record.json").read_text())
    assert 0 <= base["train_top1"] <= 1 and base["n_train_per_class"] == 0
    job = tiny_job["B2B"]
    treated = json.loads((run_job(job, tmp_path) / "record.json").read_text())
    train_data, _, _, classes = target_data(job)
    model = build_model(job.net, len(classes), seed_hash(job.id, "init"))
    model.load_state_dict(store.load_weights(tmp_path / treated["weights"]))
    model = model.to(memory_format=model.memory_format)
    assert treated["train_top1"] == evaluate(model, train_data, "cpu")


def test_n_outputs_widens_the_classifier(tmp_path, tiny_job):
    wide = dataclasses.replace(
        tiny_job["baseB"], net=dataclasses.replace(tiny_job["baseB"].net, n_outputs=10)
    )
    folder = run_job(wide, tmp_path)
    assert store.load_weights(folder / store.WEIGHTS)["fc8.bias"].shape == (10,)
    narrow = dataclasses.replace(wide, net=dataclasses.replace(wide.net, n_outputs=3))
    with pytest.raises(TreatmentError, match="fewer than the 5 classes"):
        run_job(narrow, tmp_path)
    assert store.states(tmp_path, store.plan_entries([wide]))[wide.id] == store.DONE


def test_bf16_cached_prefix_computes_what_the_uncached_one_does(tmp_path, tiny_job):
    # the treatment must not change the precision: a frozen prefix computed once runs under the
    # same bf16 autocast as the prefix an uncached net runs at every step
    def bf16(job):
        train = dataclasses.replace(job.train, precision="bf16", epochs=1)
        return dataclasses.replace(job, train=train)

    for out in (tmp_path / "cached", tmp_path / "plain"):
        run_job(bf16(tiny_job["baseA"]), out)
    cached = run_job(bf16(tiny_job["A5B"]), tmp_path / "cached")
    plain = run_job(bf16(tiny_job["A5B"]), tmp_path / "plain", cache_prefix=False)
    records = [json.loads((f / "record.json").read_text()) for f in (cached, plain)]
    assert records[0]["top1"] == records[1]["top1"]
    assert records[0]["history"] == records[1]["history"]
    # and bf16 is really in use: the fp32 net of the same spec computes other numbers
    fp32 = dataclasses.replace(
        tiny_job["baseA"], train=dataclasses.replace(tiny_job["baseA"].train, epochs=1)
    )
    fp32_record = json.loads((run_job(fp32, tmp_path / "fp32") / "record.json").read_text())
    bf16_record = json.loads(
        (store.job_dir(tmp_path / "cached", bf16(tiny_job["baseA"]).id) / "record.json").read_text()
    )
    assert fp32_record["history"][0]["train_loss"] != bf16_record["history"][0]["train_loss"]


def test_caffe_input_scale_subtracts_the_mean_only(tiny_job):
    from featuretransfer.run.job import target_data

    job = tiny_job["baseB"]
    caffe = dataclasses.replace(job, data=dataclasses.replace(job.data, normalize="mean"))
    default_train, caffe_train = target_data(job)[0], target_data(caffe)[0]
    assert caffe_train.mean == default_train.mean and caffe_train.std == 1.0
    assert default_train.std > 10  # uint8 units
    assert caffe.id != job.id


def test_fixed_steps_pass_a_small_set_many_times_and_resume_exactly():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 255, (10, 1, 28, 28), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 5, (10,), generator=generator)
    data = Images(x, y, 100.0, 50.0)
    spec = TrainSpec(
        epochs=3, batch_size=4, lr=0.01, lr_milestones=(2,), steps=14, precision="fp32"
    )
    assert period_steps(10, spec) == [4, 5, 5]  # 14 steps over 3 periods
    assert period_steps(10, dataclasses.replace(spec, steps=0)) == [3, 3, 3]  # ceil(10 / 4)

    def fresh():
        torch.manual_seed(1)
        return ConvNet8(5, width=0.1).to(memory_format=torch.channels_last)

    calls, states = [], []
    model = fresh()
    real_step = torch.optim.SGD.step

    def counting_step(self, *args, **kwargs):
        calls.append(1)
        return real_step(self, *args, **kwargs)

    torch.optim.SGD.step = counting_step
    try:
        history, _ = train(model, data, data, spec, seed=3, save_state=states.append)
    finally:
        torch.optim.SGD.step = real_step
    assert len(calls) == 14 and [h["epoch"] for h in history] == [1, 2, 3]
    # from the checkpoint after period 1 (mid-permutation: 4 batches of a 3-batch pass)
    assert states[0]["batches"]["pos"] == 4
    torch.set_rng_state(states[0]["torch_rng"])
    resumed_model = fresh()
    resumed, _ = train(resumed_model, data, data, spec, seed=3, resume=states[0])
    assert resumed == history
    for p, q in zip(model.parameters(), resumed_model.parameters()):
        assert torch.equal(p, q)


def test_lr_schedules():
    """step: constant within an epoch, x gamma after each milestone; cosine: a linear warm-up
    over the first epochs, then down to 0 at the last step, never above the peak."""
    from featuretransfer.run.schedule import lr_at

    step = TrainSpec(epochs=3, lr=0.1, lr_milestones=(2,), lr_gamma=0.1)
    assert [lr_at(i, [4, 4, 4], step) for i in (0, 3, 4, 7, 8, 11)] == [0.1] * 4 + [0.1 * 0.1] * 2
    cosine = TrainSpec(epochs=4, lr=0.1, schedule="cosine", warmup_epochs=1)
    lrs = [lr_at(i, [10] * 4, cosine) for i in range(40)]
    assert lrs[:10] == pytest.approx([0.01 * (i + 1) for i in range(10)])  # warm-up to the peak
    assert lrs[10] == pytest.approx(0.1) and max(lrs) <= 0.1 + 1e-12
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # then falling
    assert lrs[-1] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 29 / 30)))
