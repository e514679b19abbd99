"""run --tensorboard: each net's per-epoch metrics as TensorBoard events, read back with
TensorBoard's own reader; a resumed net shows one curve; TensorBoard is imported only when
asked for, and its absence is a one-line error; a rerun writes the curves of nets done before
from their records, once, and names the nets it cannot."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import tiny_study_text

from featuretransfer import store
from featuretransfer.cli import main
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.runner import run_jobs
from featuretransfer.run.tensorboard import TensorBoardLog, run_names
from featuretransfer.study.plan import plan_study

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of one run folder: tag -> [(step, value)]."""
    events = EventAccumulator(str(folder))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def as_float32(value: float) -> float:
    import numpy as np

    return float(np.float32(value))


def test_every_net_has_its_epochs_and_test_score(tmp_path, tiny_study):
    jobs = [j for j in plan_study(tiny_study) if j.treatment == "base" or j.n_copied == 2]
    out = tmp_path / "out"
    log = TensorBoardLog(out / "tensorboard", jobs, out)
    try:
        run_jobs(jobs, out, InlineExecutor(threads=1), show_progress=False, tensorboard=log)
    finally:
        log.close()
    names = run_names(jobs)
    assert names[jobs[0].id] == "s0/baseA#0"
    for record in store.load_records(out):
        got = scalars(out / "tensorboard" / names[record["job_id"]])
        for key in ("val_acc", "train_loss", "lr"):
            assert got[key] == [(h["epoch"], as_float32(h[key])) for h in record["history"]]
        assert got["test_top1"] == [(2, as_float32(record["top1"]))]


def test_a_finished_net_fills_in_epochs_whose_events_were_lost(tmp_path, tiny_job):
    job = tiny_job["baseB"]
    out = tmp_path / "out"
    log = TensorBoardLog(out / "tensorboard", [job], out)
    run_jobs([job], out, InlineExecutor(threads=1), show_progress=False)  # no events reach it
    log.finished(job.id)
    log.close()
    got = scalars(out / "tensorboard" / "s0" / "baseB#0")
    assert [step for step, _ in got["val_acc"]] == [1, 2] and len(got["test_top1"]) == 1


def test_a_resumed_net_shows_one_curve(tmp_path, tiny_job):
    job = tiny_job["baseB"]
    first = TensorBoardLog(tmp_path, [job], tmp_path)
    for epoch, acc in ((1, 0.25), (2, 0.5)):  # killed after epoch 2, checkpoint of epoch 1
        first.update(job.id, 0, 10, {"epoch": epoch, "val_acc": acc, "train_loss": 1, "lr": 1})
    first.close()
    again = TensorBoardLog(tmp_path, [job], tmp_path)
    for epoch, acc in ((2, 0.75), (3, 1.0)):  # epoch 2 trained again
        again.update(job.id, 0, 10, {"epoch": epoch, "val_acc": acc, "train_loss": 1, "lr": 1})
    again.close()
    assert scalars(tmp_path / "s0" / "baseB#0")["val_acc"] == [(1, 0.25), (2, 0.75), (3, 1.0)]


def test_nets_of_one_name_get_their_ids(tiny_job):
    base = tiny_job["baseB"]
    fewer = replace(base, data=replace(base.data, n_train_per_class=5))  # a data-volume net
    names = run_names([base, fewer])
    assert names == {base.id: f"s0/baseB#0-{base.id}", fewer.id: f"s0/baseB#0-{fewer.id}"}


def test_tensorboard_is_imported_only_when_asked_for():
    code = (
        "import sys; from featuretransfer.cli import main; "
        "main(['plan', '--preset', 'fashion-mnist-smoke']); "
        "sys.exit(any('tensorboard' in name for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_without_tensorboard_the_flag_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    assert main(["run", "--preset", "fashion-mnist-smoke", "--tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'featuretransfer[tensorboard]'" in err and err.count("\n") == 1


def test_run_tensorboard_writes_under_the_output_folder(tmp_path, fake_data):
    study = tmp_path / "s.toml"
    study.write_text(tiny_study_text("tb", epochs=2, treatments=("AnB",), cuts=(3,)))
    out = tmp_path / "out"
    command = ["run", str(study), "--data", str(fake_data), "--out", str(out), "--quiet"]
    assert main([*command, "--threads", "1", "--tensorboard"]) == 0
    runs = sorted(
        p.parent.relative_to(out / "tensorboard") for p in out.glob("tensorboard/**/events.*")
    )
    assert [str(r) for r in runs] == ["s0/A3B#0", "s0/baseA#0", "s0/baseB#0"]
    for run in runs:
        assert [step for step, _ in scalars(out / "tensorboard" / run)["val_acc"]] == [1, 2]


def test_a_rerun_with_tensorboard_writes_the_curves_of_nets_done_before(
    tmp_path, fake_data, capsys
):
    study = tmp_path / "s.toml"
    study.write_text(tiny_study_text("tb", epochs=2, treatments=("AnB",), cuts=(3,)))
    out = tmp_path / "out"
    command = ["run", str(study), "--data", str(fake_data), "--out", str(out), "--quiet"]
    assert main([*command, "--threads", "1"]) == 0  # trained without --tensorboard
    capsys.readouterr()
    assert main([*command, "--threads", "1", "--tensorboard"]) == 0  # trains nothing
    err = capsys.readouterr().err
    assert "wrote the curves of 3 nets done before this run" in err
    for record in store.load_records(out):
        got = scalars(out / "tensorboard" / record["name"].replace(":", "/"))
        assert got["val_acc"] == [(h["epoch"], as_float32(h["val_acc"])) for h in record["history"]]
        assert got["test_top1"] == [(2, as_float32(record["top1"]))]
    events = sorted(out.glob("tensorboard/**/events.*"))
    assert main([*command, "--threads", "1", "--tensorboard"]) == 0  # once, not again
    assert sorted(out.glob("tensorboard/**/events.*")) == events
    assert "the curves of 3 done nets are in" in capsys.readouterr().err


def test_a_net_whose_record_holds_no_history_is_named(tmp_path, tiny_job):
    jobs = [tiny_job["baseB"], tiny_job["baseA"]]
    out = tmp_path / "out"
    run_jobs(jobs, out, InlineExecutor(threads=1), show_progress=False)
    path = store.job_dir(out, jobs[0].id) / "record.json"
    record = json.loads(path.read_text())
    del record["history"]
    path.write_text(json.dumps(record))
    log = TensorBoardLog(out / "tensorboard", jobs, out)
    lines = log.add_finished()
    log.close()
    assert lines[0].startswith("tensorboard: wrote the curves of 1 nets done before this run")
    assert lines[1] == (
        "tensorboard: no curves for 1 done nets (s0:baseB#0): their records hold no per-epoch "
        "history"
    )
    assert not (out / "tensorboard" / "s0" / "baseB#0").exists()
    assert len(scalars(out / "tensorboard" / "s0" / "baseA#0")["val_acc"]) == 2
