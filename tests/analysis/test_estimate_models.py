"""`estimate` for every model and study kind: a user's class whose units do not compose its
forward pass and a tiny Hugging Face ViT and ResNet (features by forward hooks, no
nn.Sequential needed), and a study with a pretrained [source] (SnB scored against the target's
own baseB); a model the estimate cannot read is refused in one line before anything trains."""

import csv
import json
import math

import pytest

from featuretransfer import store
from featuretransfer.analysis.estimate import EstimateSpec, estimate_study
from featuretransfer.analysis.estimators import ESTIMATORS
from featuretransfer.cli import main
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.job import run_job
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study

SPEC = EstimateSpec(n_fit=80, n_held=20, n_cka=40, max_dim=48)
TRAIN = """[train]
epochs = 1
batch_size = 32
lr = 0.02
lr_milestones = []
best_k = 1
"""
CLASSES = """import torch
from torch import nn


class TwoPaths(nn.Module):
    '''Units that do not compose the forward: a ReLU and a skip connection in forward.'''

    def __init__(self, n_classes, in_channels, image_size, twice=False):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.body = nn.Conv2d(4, 4, 3, padding=1)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, n_classes)
        self.twice = twice

    def forward(self, x):
        y = torch.relu(self.stem(x))
        z = y + self.body(y)
        if self.twice:  # the same unit twice: trains, but has no single output to score
            z = self.body(z)
        return self.fc(self.norm(z.mean((2, 3))))


def build(n_classes, in_channels, image_size, twice=False):
    return TwoPaths(n_classes, in_channels, image_size, twice)
"""


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def class_study(folder, fake_data, args: str = "") -> str:
    (folder / "twopaths.py").write_text(CLASSES)
    path = folder / "classes.toml"
    path.write_text(
        f"""name = "classes"
[data]
n_val = 40
path = "{fake_data}"
[model]
name = "twopaths:build"
file = "twopaths.py"
units = ["stem", "body", "norm+fc"]
{args}
{TRAIN}
[study]
treatments = ["AnB"]
cuts = [1, 2]
"""
    )
    return str(path)


def test_a_class_based_model_is_estimated_end_to_end(tmp_path, fake_data, capsys):
    out = tmp_path / "out"
    args = ["--data", str(fake_data), "--out", str(out), "--quiet", "--device", "cpu"]
    assert main(["run", class_study(tmp_path, fake_data), *args]) == 0
    assert main(["estimate", str(out), "--quiet", "--device", "cpu"]) == 0
    scores = rows(out / "estimates" / "scores.csv")
    assert [r["layer"] for r in scores if r["group"] == "s0:A->B#0"] == ["stem", "body"]
    assert all(math.isfinite(float(r[e])) for r in scores for e in ESTIMATORS)
    assert {r["measured_top1"] != "" for r in scores if r["role"] == "transfer"} == {True}
    transitions = rows(out / "estimates" / "transitions.csv")
    assert len(transitions) == 1 and transitions[0]["base_top1"]  # target B only
    page = (out / "report" / "index.html").read_text()
    assert "depth prior" in page and "The transition cut" in page


def test_a_model_the_estimate_cannot_read_is_refused_before_anything_trains(
    tmp_path, fake_data, capsys
):
    out = tmp_path / "out"
    study = class_study(tmp_path, fake_data, "args = { twice = true }")
    code = main(["estimate", study, "--data", str(fake_data), "--out", str(out), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unit 'body' ran 2 times in one forward pass" in err and err.count("\n") == 1
    assert not (out / "jobs").exists() or not any((out / "jobs").iterdir())  # nothing trained


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_a_hugging_face_model_is_estimated(hf_folders, fake_data, tmp_path, family):
    path = hf_folders / f"{family}.toml"
    path.write_text(
        f"""name = "hf-{family}"
[data]
n_val = 40
path = "{fake_data}"
[model]
name = "hf:{family}"
{TRAIN}
[study]
treatments = ["AnB"]
cuts = [1, 2, 3]
"""
    )
    plan = plan_study(load_study(path))
    assert not run_jobs(plan, tmp_path, InlineExecutor(), show_progress=False).failed
    folder = estimate_study(plan, tmp_path, SPEC)
    scores = rows(folder / "scores.csv")
    units = plan[0].net.units
    assert [r["layer"] for r in scores if r["group"] == "s0:A->B#0"] == list(units[:3])
    assert all(math.isfinite(float(r[e])) for r in scores for e in ESTIMATORS)
    similarity = rows(folder / "similarity.csv")
    assert sum(r["kind"] == "A-B" for r in similarity) == 4 * 4
    assert sum(r["kind"] == "untrained" for r in similarity) == 4
    agreement = rows(folder / "agreement.csv")
    assert {r["estimator"] for r in agreement} >= {*ESTIMATORS, "depth_prior"}


def test_a_source_study_estimates_the_source_against_the_targets_own_net(
    tmp_path, fake_data, other_data
):
    """SnB's features come from the checkpoint (layers 1..L-1), scored on the target's images
    beside baseB's; the transition cut is SnB's against baseB."""
    first = tmp_path / "first.toml"
    first.write_text(f'name = "first"\n[data]\nn_val = 40\npath = "{fake_data}"\n')
    first.write_text(first.read_text() + "[model]\nwidth = 0.1\n" + TRAIN)
    base_a = next(j for j in plan_study(load_study(first)) if j.display_name == "s0:baseA#0")
    (tmp_path / "runs" / "first").mkdir(parents=True)
    store.write_plan(tmp_path / "runs" / "first", [base_a])  # a study folder, as `run` leaves one
    run_job(base_a, tmp_path / "runs" / "first")
    second = tmp_path / "second.toml"
    second.write_text(
        f'name = "second"\n[data]\nn_val = 40\npath = "{other_data}"\n[model]\nwidth = 0.1\n'
        f'{TRAIN}[study]\ntreatments = ["SnB"]\n[source]\ncheckpoint = "runs/first"\n'
        'net = "s0:baseA#0"\nclasses = [0, 1, 2]\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(second), "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert main(["estimate", str(out), "--quiet", "--device", "cpu"]) == 0
    folder = out / "estimates"
    scores = rows(folder / "scores.csv")
    assert {r["group"] for r in scores} == {"target:S->B#0", "target:B->B#0"}
    source = [r for r in scores if r["source"] == "S"]
    assert len(source) == 7 and source[0]["base_job"].startswith("source:")
    assert all(r["measured_top1"] for r in source)  # every SnB of the study, n = 1..7
    similarity = rows(folder / "similarity.csv")
    assert sum(r["kind"] == "S-B" for r in similarity) == 7 * 7  # the source's head is not its
    transitions = rows(folder / "transitions.csv")
    assert [(r["group"], r["treatment"]) for r in transitions] == [("target:S->B#0", "SnB")]
    assert transitions[0]["measured"] != ""  # every cut measured: pinned down
    agreement = rows(folder / "agreement.csv")
    assert {r["unit"] for r in agreement if r["scope"] == "pooled"} == {"seed"}
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["groups"][1]["base"] == "target:source"
    page = (out / "report" / "index.html").read_text()
    assert "SnB" in page and "one split" in page
