"""A pretrained source: a checkpoint made by one study is the source of another on other data."""

import dataclasses
import json
import shutil

import pytest
import torch

from featuretransfer import store
from featuretransfer.report.figures import figure2_series
from featuretransfer.report.results import load_results
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.job import check_models, run_job
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.plan import plan_study
from featuretransfer.study.source import SourceError, checkpoint_file
from featuretransfer.study.studyfile import load_study
from featuretransfer.study.studyspec import StudyError

CONV = ("conv1", "conv2", "conv3", "conv4", "conv5")
TINY = """
[model]
width = 0.1
[train]
epochs = 1
batch_size = 32
lr = 0.02
lr_milestones = []
best_k = 1
"""


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, fake_data):
    """A study on the fake data whose baseA (5 classes) is the source."""
    root = tmp_path_factory.mktemp("source")
    path = root / "first.toml"
    path.write_text(f'name = "first"\n[data]\nn_val = 40\npath = "{fake_data}"\n{TINY}')
    study = load_study(path)
    base_a = next(j for j in plan_study(study) if j.display_name == "s0:baseA#0")
    (root / "runs" / "first").mkdir(parents=True)
    store.write_plan(root / "runs" / "first", [base_a])  # a study folder, as `run` leaves one
    run_job(base_a, root / "runs" / "first")
    return root


def source_study(root, data, source: str, study: str = "", name: str = "second"):
    path = root / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n[data]\nn_val = 40\npath = "{data}"\n{TINY}{study}\n[source]\n{source}'
    )
    return load_study(path)


SOURCE = 'checkpoint = "runs/first"\nnet = "s0:baseA#0"\ntrained_on = "fake rows, classes A"\n'


def test_plan_of_a_source_study(source_run, other_data):
    study = source_study(source_run, other_data, SOURCE + "classes = [0, 1, 2]\n")
    jobs = plan_study(study)
    assert study.splits[0].B == (0, 1, 2) and study.splits[0].kind == "source"
    assert len(jobs) == 1 + 7 * 5  # baseB, then BnB BnB+ SnB SnB+ random at n = 1..7
    assert {j.target for j in jobs} == {"B"} and {j.source for j in jobs} == {"B", "S", ""}
    source_jobs = [j for j in jobs if j.source == "S"]
    assert all(j.pretrained == study.source and not j.parent() for j in source_jobs)
    assert all(j.pretrained is None for j in jobs if j.source != "S")
    assert source_jobs[0].display_name.startswith("target:S")


def test_the_checkpoint_hash_enters_the_ids_of_source_nets_only(source_run, other_data, tmp_path):
    first = plan_study(source_study(source_run, other_data, SOURCE))
    state = store.load_weights(next((source_run / "runs" / "first" / "jobs").glob("*/model.*")))
    state["conv1.bias"] = state["conv1.bias"] + 1
    store.save_weights(state, tmp_path / "edited.safetensors")
    shutil.copy(tmp_path / "edited.safetensors", source_run / "edited.safetensors")
    second = plan_study(source_study(source_run, other_data, 'checkpoint = "edited.safetensors"'))
    ids = {j.display_name: j.id for j in second}
    assert len(ids) == len(first) == 36
    for job in first:
        assert (ids[job.display_name] == job.id) == (job.source != "S"), job.display_name


def test_source_nets_copy_the_checkpoint_on_other_data(source_run, other_data, tmp_path):
    study = source_study(
        source_run, other_data, SOURCE + "classes = [0, 1, 2]\n", "[study]\ncuts = [5]"
    )
    jobs = plan_study(study)
    check_models(jobs)
    summary = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    assert not summary.failed and len(summary.trained) == 6
    source = store.load_weights(study.source.path)
    assert source["fc8.weight"].shape[0] == 5  # the source's head: its own 5 classes
    by_name = {j.display_name: store.job_dir(tmp_path, j.id) for j in jobs}
    frozen = store.load_weights(by_name["target:S5B#0"] / store.WEIGHTS)
    tuned = store.load_weights(by_name["target:S5B+#0"] / store.WEIGHTS)
    for key in source:
        if key.startswith(CONV):
            assert torch.equal(frozen[key], source[key]), key
            assert not torch.equal(tuned[key], source[key]), key
    assert frozen["fc8.weight"].shape[0] == 3  # a head of the target's class count, new
    record = json.loads((by_name["target:S5B#0"] / "record.json").read_text())
    assert record["source"] == "S" and record["source_trained_on"] == "fake rows, classes A"
    rows = load_results(tmp_path / "results.csv")
    assert {r["label"] for r in rows} == {"baseB", "BnB", "BnB+", "SnB", "SnB+", "random weights"}
    legend = [s["label"].split(" (1 ")[0] for s in figure2_series(rows)]  # less "(1 net ...)"
    assert legend == ["baseB", "BnB", "BnB+", "SnB (source)", "SnB+ (source)"]
    assert all(s["points"] for s in figure2_series(rows))


def test_a_state_dict_pt_serves_and_a_changed_checkpoint_is_refused(
    source_run, other_data, tmp_path
):
    state = store.load_weights(next((source_run / "runs" / "first" / "jobs").glob("*/model.*")))
    torch.save(state, source_run / "plain.pt")
    study = source_study(source_run, other_data, 'checkpoint = "plain.pt"', "[study]\ncuts = [2]")
    job = next(j for j in plan_study(study) if j.display_name == "target:S2B#0")
    folder = run_job(job, tmp_path)
    assert torch.equal(
        store.load_weights(folder / store.WEIGHTS)["conv2.weight"], state["conv2.weight"]
    )
    torch.save({k: v * 2 for k, v in state.items()}, source_run / "plain.pt")
    again = dataclasses.replace(job, n_copied=1)
    with pytest.raises(SourceError, match="changed since the study was planned"):
        run_job(again, tmp_path)


def test_checkpoint_keys_that_do_not_match_the_model_are_named(source_run, other_data):
    state = store.load_weights(next((source_run / "runs" / "first" / "jobs").glob("*/model.*")))
    state.pop("conv2.bias")
    state["extra.weight"] = torch.zeros(1)
    state["conv3.weight"] = torch.zeros(2, 2, 3, 3)
    store.save_weights(state, source_run / "other.safetensors")
    study = source_study(source_run, other_data, 'checkpoint = "other.safetensors"')
    with pytest.raises(
        SourceError,
        match=r"missing: conv2\.bias; not in the model: extra\.weight; "
        r"other shapes \(checkpoint vs model\): conv3\.weight \(2, 2, 3, 3\)",
    ):
        check_models(plan_study(study))


@pytest.mark.parametrize(
    "source, study, message",
    [
        ('checkpoint = "nope.pt"', "", "nope.pt does not exist"),
        ('checkpoint = "runs/first"\nnet = "s0:baseX#0"', "", "no finished net of that name"),
        ("trained_on = 'x'", "", "source.checkpoint = ... is missing"),
        (SOURCE + 'model = "resnet18"', "", "is not the study's model.name = 'convnet8'"),
        (SOURCE + "colour = 1", "", "unknown key source.colour"),
        (SOURCE, "[study]\ntreatments = ['AnB']", "unknown 'AnB'"),
        (SOURCE, "[study]\ntargets = ['A']", "the target is B"),
        (SOURCE, "[[splits]]\nseed = 1", "[splits] does not go with [source]"),
        (SOURCE + "classes = ['Bags', 'Coat']", "", "unknown class 'Bags'"),
    ],
)
def test_bad_source_sections_name_the_key(source_run, fake_data, source, study, message):
    with pytest.raises(StudyError, match=message.replace("[", r"\[").replace(".", r"\.")):
        source_study(source_run, fake_data, source, study, name="bad")


def test_an_unknown_source_net_lists_the_base_nets_first(source_run, monkeypatch):
    with pytest.raises(SourceError) as error:
        checkpoint_file(source_run / "runs" / "first", "s0:baseX#0")
    assert str(error.value).endswith("its finished nets, base nets first: s0:baseA#0")
    # two splits: 4 base nets, which sort by name after the 28 transfer nets
    transfer = [f"s{s}:A{n}B{plus}#0" for s in (0, 1) for n in range(1, 8) for plus in ("", "+")]
    base = [f"s{s}:base{half}#0" for s in (0, 1) for half in "AB"]
    records = [{"name": name, "treatment": "transfer", "status": "done"} for name in transfer]
    records += [{"name": name, "treatment": "base", "status": "done"} for name in base]
    records.append({"name": "s2:baseA#0", "treatment": "base", "status": "diverged"})
    monkeypatch.setattr(store, "load_records", lambda path: records)
    with pytest.raises(SourceError) as error:
        checkpoint_file(source_run / "runs" / "first", "baseA")
    message = str(error.value)
    assert message.startswith("source.net = 'baseA': no finished net of that name in ")
    assert message.endswith(
        "base nets first: s0:baseA#0, s0:baseB#0, s1:baseA#0, s1:baseB#0, "
        "s0:A1B#0, s0:A1B+#0, s0:A2B#0, s0:A2B+#0 and 24 more"
    )
