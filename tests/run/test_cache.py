"""Frozen-prefix caching gives the records of the uncached run."""

import json

import pytest

from featuretransfer.nets.registry import build_model
from featuretransfer.run.job import run_job
from featuretransfer.specs import NetSpec
from featuretransfer.study.plan import treatment_job


def record(folder) -> dict:
    return json.loads((folder / "record.json").read_text())


@pytest.mark.parametrize("treatment, n", [("AnB", 1), ("AnB", 5), ("BnB", 7), ("random", 6)])
def test_cached_prefix_gives_the_uncached_records(tmp_path, tiny_study, treatment, n):
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
