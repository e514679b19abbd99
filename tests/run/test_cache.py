"""Frozen-prefix caching gives the records of the uncached run."""

import dataclasses
import json

import pytest

from featuretransfer.nets.registry import build_model
from featuretransfer.run.job import run_job
from featuretransfer.specs import NetSpec
from featuretransfer.study.plan import treatment_job


def record(folder) -> dict:
    return json.loads((folder / "record.json").read_text())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("treatment, n", [("AnB", 1), ("AnB", 5), ("BnB", 7), ("random", 6)])
def test_cached_prefix_gives_the_uncached_records(tmp_path, tiny_study, treatment, n, precision):
    """In bf16 the prefix is computed under the training's autocast and kept in bf16 (half the
    memory): what the layers above it see uncached, so the same records."""
    tiny_study = dataclasses.replace(
        tiny_study, train=dataclasses.replace(tiny_study.train, precision=precision)
    )
    split = tiny_study.splits[0]
    for half in ("A", "B"):
        base = treatment_job(tiny_study, split, 0, half, 0, "BnB")
        run_job(base, tmp_path / "cached")
        run_job(base, tmp_path / "plain")
    job = treatment_job(tiny_study, split, 0, "B", n, treatment)
    cached = record(run_job(job, tmp_path / "cached"))
    plain = record(run_job(job, tmp_path / "plain", cache_prefix=False))
    assert cached["top1"] == pytest.approx(plain["top1"], abs=1e-9)
    for a, b in zip(cached["history"], plain["history"], strict=True):
        assert a["val_acc"] == pytest.approx(b["val_acc"], abs=1e-9)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_only_dropout_free_layers_are_cached():
    assert build_model(NetSpec(), 3, seed=0).n_deterministic == 5  # conv1..conv5; fc6 has dropout
    assert build_model(NetSpec(dropout=0.0), 3, seed=0).n_deterministic == 8


def test_a_bf16_prefix_is_kept_in_bf16(tiny_job):
    """Half the memory of an fp32 cache, and exactly what the next layer's autocast reads."""
    import torch

    from featuretransfer.run.images import prefix_features
    from featuretransfer.run.job import target_data

    job = tiny_job["A5B"]
    train_data = target_data(job)[0]
    model = build_model(job.net, 5, seed=0).to(memory_format=torch.channels_last)
    cached = prefix_features(model, train_data, 5, "cpu", "bf16")
    assert cached.x.dtype == torch.bfloat16 and cached.x.shape[0] == len(train_data.y)
    assert prefix_features(model, train_data, 5, "cpu", "fp32").x.dtype == torch.float32
