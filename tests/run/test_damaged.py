"""Damaged and stale folders: a finished net whose files cannot be read is redone, and so are
the nets that copied its layers, unless the redone parent has the very weights they copied."""

import json

import torch

from featuretransfer import store
from featuretransfer.run import job as job_module
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.plan import plan_study


def run(jobs, out):
    return run_jobs(jobs, out, InlineExecutor(), show_progress=False)


def test_damaged_weights_are_redone_and_identical_children_kept(tmp_path, tiny_study, tiny_job):
    jobs = plan_study(tiny_study)
    run(jobs, tmp_path)
    base = tiny_job["baseA"]
    weights = store.job_dir(tmp_path, base.id) / store.WEIGHTS
    before = weights.read_bytes()
    weights.write_bytes(b"garbage")
    assert store.states(tmp_path, store.plan_entries([base]))[base.id] == store.DAMAGED
    assert base.id not in {r["job_id"] for r in store.load_records(tmp_path)}
    again = run(jobs, tmp_path)
    assert again.trained == [base.id] and not again.failed
    assert weights.read_bytes() == before  # CPU training is deterministic: bit-identical
    children = [j.id for j in jobs if j.parent() and j.parent().id == base.id]
    assert children and set(children) <= set(again.skipped_done)
    assert all(s == store.DONE for s in store.states(tmp_path, store.plan_entries(jobs)).values())


def test_a_parent_redone_into_other_weights_takes_its_children_along(
    tmp_path, tiny_study, tiny_job, monkeypatch
):
    jobs = plan_study(tiny_study)
    run(jobs, tmp_path)
    base = tiny_job["baseA"]
    (store.job_dir(tmp_path, base.id) / "record.json").write_text("{not json")  # damaged
    real = job_module.build_net

    def build_net(spec, *args):  # the redone base net starts elsewhere: other weights
        model = real(spec, *args)
        if spec.id == base.id:
            with torch.no_grad():
                model.conv1.weight.mul_(1.5)
        return model

    monkeypatch.setattr(job_module, "build_net", build_net)
    again = run(jobs, tmp_path)
    children = {j.id for j in jobs if j.parent() and j.parent().id == base.id}
    assert set(again.trained) == {base.id} | children
    parent_sha = store.read_record(tmp_path, base.id)["weights_sha256"]
    for child in children:
        assert store.read_record(tmp_path, child)["parent_weights_sha256"] == parent_sha


def test_a_child_of_other_weights_is_stale(tmp_path, tiny_study, tiny_job):
    jobs = plan_study(tiny_study)
    run(jobs, tmp_path)
    child = tiny_job["A2B"]
    path = store.job_dir(tmp_path, child.id) / "record.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"parent_weights_sha256": "0" * 64}))
    assert store.states(tmp_path, store.plan_entries(jobs))[child.id] == store.STALE
    assert child.id not in {r["job_id"] for r in store.load_records(tmp_path)}
    assert run(jobs, tmp_path).trained == [child.id]
