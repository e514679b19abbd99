"""The examples: each states its runtime on 2 cores in its header, the example studies plan,
and the pretrained-source study and the API script run (tiny, on fake data)."""

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from featuretransfer import store
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.job import check_models, run_job
from featuretransfer.run.runner import run_jobs
from featuretransfer.specs import TrainSpec
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study
from featuretransfer.study.studyspec import StudySpec

EXAMPLES = Path(__file__).parents[1] / "examples"
TINY_TRAIN = TrainSpec(
    epochs=1, batch_size=32, lr=0.02, lr_milestones=(), best_k=1, precision="fp32"
)


def tiny(study: StudySpec, **changes) -> StudySpec:
    data = dataclasses.replace(study.data, n_val=40)
    return dataclasses.replace(study, data=data, train=TINY_TRAIN, **changes)


def header(path: Path) -> str:
    """A study's leading comment lines, or a script's module docstring."""
    text = path.read_text()
    if path.suffix == ".py":
        return text.split('"""')[1]
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line and not line.startswith("#")), None)
    return "\n".join(lines[:first])


# what a user runs: every study, and every script that runs one (not a model's module)
RUNNABLE = sorted(
    p
    for p in EXAMPLES.iterdir()
    if p.suffix == ".toml" or (p.suffix == ".py" and "run_study(" in p.read_text())
)
# "Runtime on 2 cores: about 5 min", "about 10-15 minutes on 2 cores"
RUNTIME = re.compile(
    r"on 2 cores: about [\d.]+ ?(s|min|h)\b|[\d.]+(-[\d.]+)? ?(s|min|minutes|h|hours)\b"
    r"[^.]{0,40}\bon 2 cores",
    re.I,
)


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.name for p in RUNNABLE])
def test_every_example_states_its_runtime_on_2_cores(path):
    assert RUNTIME.search(header(path)), f"{path.name}: its header needs its runtime on 2 cores"


def test_the_example_studies_plan_and_the_source_example_runs(tmp_path, fake_data):
    # the examples' layout: examples/*.toml beside runs/, as in the repository
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    studies = {p.name for p in (tmp_path / "examples").glob("*.toml")}
    assert {"my-model.toml", "pretrained-source.toml"} <= studies
    first = load_study(tmp_path / "examples" / "my-model.toml", data_path=str(fake_data))
    assert len(plan_study(first)) == 2 + 4 * 4
    base_a = next(j for j in plan_study(tiny(first)) if j.display_name == "s0:baseA#0")
    (tmp_path / "runs" / "my-model").mkdir(parents=True)  # a study folder, as `run` leaves one
    store.write_plan(tmp_path / "runs" / "my-model", [base_a])
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


def tiny_text(text: str, **settings) -> str:
    """A study file's text with the first `key = value` line of each key replaced."""
    for key, value in settings.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, key
    return text


def test_the_api_script_runs_a_study_reads_it_and_estimates(tmp_path, fake_data):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    tiny = tmp_path / "examples" / "tiny.toml"  # beside my_nets.py, which it names
    text = (EXAMPLES / "my-model.toml").read_text()
    tiny.write_text(
        tiny_text(
            text,
            name='"tiny"',
            n_val="40",
            n_train_per_class="0",
            epochs="1",
            lr_milestones="[]",
            best_k="1",
            cuts="[2]",
        )
    )
    run = subprocess.run(
        [sys.executable, "examples/api.py", str(tiny), "out", str(fake_data)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "out: 6 nets; baseB top-1 0." in run.stdout
    assert "n = 2  AnB+  top-1 0." in run.stdout and "estimates (not measurements) in" in run.stdout
    assert (tmp_path / "out" / "estimates" / "scores.csv").is_file()
    assert (tmp_path / "out" / "report" / "index.html").is_file()
