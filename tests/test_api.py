"""The Python API (featuretransfer/api.py): a study run, read and estimated from Python on tiny
data; errors raised, never exits; `import featuretransfer` without torch."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_study_text

import featuretransfer
from featuretransfer.record import COLUMNS
from featuretransfer.study.folder import FolderError
from featuretransfer.study.studyspec import StudyError

TINY = tiny_study_text(
    "api-tiny", batch_size=32, treatments=("AnB",), cuts=(3,), train_keys='precision = "fp32"\n'
)

# A user's model whose forward fails while training (not in the checks before it)
FAILS = """from collections import OrderedDict

import torch
from torch import nn


class Boom(nn.Module):
    def forward(self, x):
        if torch.is_grad_enabled():
            raise RuntimeError("boom while training")
        return x


def build(n_classes, in_channels, image_size):
    return nn.Sequential(
        OrderedDict(
            a=nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size**2, 8)),
            boom=Boom(),
            b=nn.Linear(8, n_classes),
        )
    )
"""


def test_import_is_cheap_and_the_api_loads_on_first_use():
    code = (
        "import sys, featuretransfer as ft\n"
        "assert 'torch' not in sys.modules and 'featuretransfer.api' not in sys.modules\n"
        "assert {'run_study', 'load_results', 'estimate', 'Record'} <= set(dir(ft))\n"
        "ft.run_study\n"
        "assert 'featuretransfer.api' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        featuretransfer.nope  # noqa: B018


def test_run_study_load_results_and_estimate(tmp_path, fake_data):
    study = tmp_path / "tiny.toml"
    study.write_text(TINY)
    out = featuretransfer.run_study(
        study, tmp_path / "out", data=fake_data, device="cpu", progress=False
    )
    assert out == tmp_path / "out" and (out / "report" / "index.html").is_file()
    records = featuretransfer.load_results(out)
    # one schema: results.csv's header is the Record's fields (record.py)
    assert [f.name for f in dataclasses.fields(featuretransfer.Record)] == list(COLUMNS)
    assert (out / "results.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    assert sorted((r.treatment, r.source, r.target, r.n_copied) for r in records) == [
        ("base", "A", "A", 0),
        ("base", "B", "B", 0),
        ("transfer", "A", "B", 3),
    ]
    assert sorted(r.label for r in records) == ["AnB", "baseB", "baseB"]  # the paper's names
    for r in records:
        assert isinstance(r, featuretransfer.Record)
        assert 0 <= r.top1 <= 1 and isinstance(r.n_copied, int) and isinstance(r.fine_tune, bool)
        assert r.epochs == 1 and r.seed == 0 and r.n_classes == 5 and r.seconds > 0
        assert isinstance(r.val_acc, float) and math.isnan(r.train_top1) is False
    assert featuretransfer.load_results(out / "results.csv") == records
    # a second call finds every net done and trains nothing
    again = featuretransfer.run_study(study, out, data=fake_data, device="cpu", progress=False)
    assert again == out and featuretransfer.load_results(out) == records
    # the estimate of the same study: its base nets are done, so only the estimators run
    estimates = featuretransfer.estimate(out, device="cpu", progress=False)
    assert estimates == out / "estimates" and (estimates / "scores.csv").is_file()


def test_results_as_a_frame_where_pandas_is_installed(tmp_path):
    table = tmp_path / "results.csv"
    table.write_text(
        "split,source,target,treatment,n_copied,fine_tune,top1,n_layers\n"
        "s0,B,B,base,0,false,0.62,8\ns0,A,B,transfer,3,true,0.64,8\n"
    )
    records = featuretransfer.load_results(table)  # a table made elsewhere: defaults
    assert [(r.label, r.n_copied, r.top1, r.seed) for r in records] == [
        ("baseB", 0, 0.62, None),
        ("AnB+", 3, 0.64, None),
    ]
    assert math.isnan(records[0].seconds) and records[0].job_id == ""
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs pandas: pip install pandas"):
            featuretransfer.load_results(table, as_frame=True)
        return
    frame = featuretransfer.load_results(table, as_frame=True)
    assert list(frame["top1"]) == [0.62, 0.64] and list(frame.columns)[-1] == "label"


def test_errors_raise_the_package_exceptions(tmp_path, fake_data):
    with pytest.raises(StudyError, match="missing.toml does not exist"):
        featuretransfer.run_study(tmp_path / "missing.toml")
    study = tmp_path / "tiny.toml"
    study.write_text(TINY)
    with pytest.raises(ValueError, match="workers=0: give a whole number >= 1"):
        featuretransfer.run_study(study, data=fake_data, workers=0)
    with pytest.raises(ValueError, match="device tpu: use auto, cpu, cuda or cuda:N"):
        featuretransfer.run_study(study, data=fake_data, device="tpu")
    with pytest.raises(ValueError, match="not both"):
        featuretransfer.run_study(study, preset="fashion-mnist")
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        featuretransfer.run_study(study, tmp_path / "afile", data=fake_data)
    with pytest.raises(FolderError, match="no results.csv"):
        featuretransfer.load_results(tmp_path)
    with pytest.raises(FolderError, match="holds no study"):
        featuretransfer.estimate(tmp_path)
    assert isinstance(StudyError("x"), featuretransfer.ERRORS)


def test_failed_nets_raise_run_error_after_the_rest_finish(tmp_path, fake_data):
    (tmp_path / "fails.py").write_text(FAILS)
    study = tmp_path / "fails.toml"
    study.write_text(
        TINY.replace("width = 0.1", 'name = "fails:build"\nfile = "fails.py"\nunits = ["a", "b"]')
        .replace("cuts = [3]", "cuts = [1]")
        .replace('treatments = ["AnB"]', 'treatments = ["random"]')
    )
    with pytest.raises(featuretransfer.RunError, match="boom while training") as caught:
        featuretransfer.run_study(study, tmp_path / "out", data=fake_data, progress=False)
    assert len(caught.value.failed) >= 1 and caught.value.out == tmp_path / "out"
    assert Path(caught.value.out, "plan.json").is_file()
