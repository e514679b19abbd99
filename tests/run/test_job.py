import json

import pytest
import torch

from featuretransfer import store
from featuretransfer.run import job as job_module
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.job import MissingParentError, run_job
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.plan import plan_study


def test_base_job_writes_its_folder(tmp_path, tiny_job):
    job = tiny_job["baseB"]
    folder = run_job(job, tmp_path)
    assert {p.name for p in folder.iterdir()} >= {
        "spec.json",
        "results.jsonl",
        "model.safetensors",
        "log.txt",
        "record.json",
        "done",
    }
    record = json.loads((folder / "record.json").read_text())
    assert record["treatment"] == "base" and record["n_copied"] == 0 and 0 <= record["top1"] <= 1
    assert record["classes"] == [2, 4, 5, 6, 9]  # label i of the net is this data set class
    lines = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert all(line["job_id"] == job.id and line["spec"]["target"] == "B" for line in lines)
    state = store.load_weights(folder / "model.safetensors")
    assert {"conv1.weight", "conv1.bias", "fc8.weight", "fc8.bias"} <= set(state)
    assert json.loads((folder / "spec.json").read_text())["code"]["torch"] == torch.__version__


def test_same_spec_gives_identical_records(tmp_path, tiny_job):
    records = []
    for out in (tmp_path / "a", tmp_path / "b"):
        run_job(tiny_job["baseB"], out)
        records.append(
            json.loads((store.job_dir(out, tiny_job["baseB"].id) / "record.json").read_text())
        )
    for record in records:
        record.pop("seconds")
    assert records[0] == records[1]


def test_transfer_copies_and_freezes_its_parents_layers(tmp_path, tiny_job):
    run_job(tiny_job["baseA"], tmp_path)
    parent = store.load_weights(store.job_dir(tmp_path, tiny_job["baseA"].id) / store.WEIGHTS)
    frozen = store.load_weights(run_job(tiny_job["A5B"], tmp_path) / store.WEIGHTS)
    tuned = store.load_weights(run_job(tiny_job["A5B+"], tmp_path) / store.WEIGHTS)
    for key in parent:
        lower = key.split(".")[0] in ("conv1", "conv2", "conv3", "conv4", "conv5")
        assert torch.equal(frozen[key], parent[key]) == lower, key
        assert not torch.equal(tuned[key], parent[key]) or key.startswith("fc8"), key


def test_missing_parent_is_a_clear_error(tmp_path, tiny_job):
    with pytest.raises(MissingParentError, match="needs baseA"):
        run_job(tiny_job["A2B"], tmp_path)


def test_whole_study_then_rerun_trains_nothing(tmp_path, tiny_study):
    jobs = plan_study(tiny_study)
    summary = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    assert len(summary.trained) == len(jobs) == 12 and not summary.failed
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0].startswith(
        "job_id,study,split,split_kind,source,target,treatment,n_copied,fine_tune"
    )
    assert len(rows) == 13
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("jobs/*/model.safetensors")}
    again = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    assert again.trained == [] and len(again.skipped_done) == 12
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("jobs/*/model.safetensors")} == mtimes


def test_interrupted_job_is_redone(tmp_path, tiny_study, tiny_job):
    jobs = plan_study(tiny_study)
    run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    victim = store.job_dir(tmp_path, tiny_job["B2B"].id)
    expected = json.loads((victim / "record.json").read_text())
    (victim / "done").unlink()  # as if killed after training, before the marker
    (victim / store.WEIGHTS).write_bytes(b"half a file")
    assert (
        store.states(tmp_path, store.plan_entries([tiny_job["B2B"]]))[tiny_job["B2B"].id]
        == store.INCOMPLETE
    )
    summary = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    assert summary.trained == [tiny_job["B2B"].id]
    redone = json.loads((victim / "record.json").read_text())
    assert redone["top1"] == expected["top1"] and redone["history"] == expected["history"]


def test_failed_job_does_not_stop_the_study(tmp_path, tiny_study, tiny_job, monkeypatch):
    jobs = plan_study(tiny_study)
    broken = tiny_job["baseA"].id
    real = job_module.build_net

    def build_net(spec, *args):
        if spec.id == broken:
            raise RuntimeError("out of memory (a stand-in)")
        return real(spec, *args)

    monkeypatch.setattr(job_module, "build_net", build_net)
    summary = run_jobs(jobs, tmp_path, InlineExecutor(), show_progress=False)
    transfers = {j.id for j in jobs if j.treatment == "transfer"}
    assert list(summary.failed) == [broken] and "out of memory" in summary.failed[broken]
    assert set(summary.blocked) == transfers  # they need baseA: skipped, not failed
    assert len(summary.trained) == 12 - 1 - len(transfers)


def test_every_executor_has_the_interface_the_runner_needs():
    """What a new executor (submitit, SLURM) must implement is one written Protocol."""
    from featuretransfer.run.executors import Executor, InlineExecutor, ProcessExecutor

    inline = InlineExecutor(1)
    assert isinstance(inline, Executor)
    pool = ProcessExecutor(1, 1)
    try:
        assert isinstance(pool, Executor)
    finally:
        pool.shutdown()
    try:
        from featuretransfer.run.ray_executor import RayExecutor
    except ImportError:
        return
    missing = [
        name
        for name in ("progress_for", "submit", "poll", "cancel", "shutdown")
        if not callable(getattr(RayExecutor, name, None))
    ]
    assert not missing, missing
