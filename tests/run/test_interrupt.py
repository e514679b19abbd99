"""Interrupts: a stop asked mid-epoch saves the net where it stands, and a resumed run gives the
records of an undisturbed one; `run` stopped by real signals (SIGINT to the process or to its
whole group as a terminal sends it, SIGTERM, a second signal) exits 130, records nothing as
failed, writes no report, and the same command then finishes with the undisturbed numbers.
(The Ray executor's interrupt is in test_ray.py: it needs the cluster.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import tiny_study_text

from featuretransfer import store
from featuretransfer.run import interrupt
from featuretransfer.run.job import run_fused, run_job
from featuretransfer.study.plan import plan_study

TOLERANCE = 1e-5  # fused against lone training: float sums in another order (test_fused.py)


@pytest.fixture(autouse=True)
def no_stop_left_behind():
    interrupt.reset()
    yield
    interrupt.reset()


def stop_at(step_wanted: int):
    """A progress callback that asks for a stop at its first step event (not an epoch's end)
    from `step_wanted` on: training stops before the step after that one."""

    def progress(step: int, total: int, metrics: dict) -> None:
        if step >= step_wanted and not metrics:
            interrupt.request_stop()

    return progress


def record_of(out: Path, job_id: str) -> dict:
    record = json.loads((store.job_dir(out, job_id) / "record.json").read_text())
    record.pop("seconds")
    return record


@pytest.mark.parametrize(
    "name, train",
    [
        ("baseB", {}),
        ("baseB", {"mirror": True, "crop": 24}),  # the augmentation stream is saved too
        ("A2B", {}),  # frozen conv1-conv2 on cached features
        ("R5B", {}),  # a random frozen prefix, fc6 and fc7's dropout running per step
        ("baseB", {"precision": "bf16"}),  # bf16 autocast: the same bits after a resume
        ("A2B", {"precision": "bf16"}),  # and a bf16 cached prefix
    ],
)
def test_a_stop_mid_epoch_resumes_to_the_undisturbed_record(tmp_path, tiny_study, name, train):
    study = replace(tiny_study, train=replace(tiny_study.train, epochs=3, batch_size=8, **train))
    jobs = {j.display_name.split(":")[1].split("#")[0]: j for j in plan_study(study)}
    job = jobs[name]
    for out in (tmp_path / "calm", tmp_path / "stopped"):
        if job.parent() is not None:
            run_job(job.parent(), out)
    torch.set_num_threads(1)
    run_job(job, tmp_path / "calm")
    with pytest.raises(interrupt.Interrupted):  # 13 steps an epoch: after epoch 2's first step
        run_job(job, tmp_path / "stopped", progress=stop_at(13))
    folder = store.job_dir(tmp_path / "stopped", job.id)
    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert len(checkpoint["history"]) == 1 and checkpoint["epoch_step"] == 1
    assert store.states(tmp_path / "stopped", store.plan_entries([job]))[job.id] == store.INCOMPLETE
    assert "interrupted: stopped before step" in (folder / "log.txt").read_text()
    interrupt.reset()
    run_job(job, tmp_path / "stopped")
    log = (folder / "log.txt").read_text()
    assert "resumed after 1 steps of epoch 2" in log
    assert record_of(tmp_path / "stopped", job.id) == record_of(tmp_path / "calm", job.id)
    assert not (folder / "checkpoint.pt").exists()


def test_a_net_resumed_under_other_threads_records_both(tmp_path, tiny_job):
    torch.set_num_threads(1)
    with pytest.raises(interrupt.Interrupted):
        run_job(tiny_job["baseB"], tmp_path, progress=stop_at(1))
    interrupt.reset()
    torch.set_num_threads(2)
    try:
        run_job(tiny_job["baseB"], tmp_path)
    finally:
        torch.set_num_threads(1)
    record = record_of(tmp_path, tiny_job["baseB"].id)
    assert (record["threads"], record["device"], record["fused"]) == ("1+2", "cpu", "1")
    assert [r["threads"] for r in record["runtimes"]] == [1, 2]
    assert store.runtime_mix([record]) == {"threads": {"1+2": 1}}


def test_a_stopped_fused_pass_goes_on_alone_from_mid_epoch(tmp_path, tiny_study):
    jobs = plan_study(tiny_study)
    bases = [j for j in jobs if j.treatment == "base"]
    plus = [j for j in jobs if j.fine_tune and j.source == "A"]
    for out in (tmp_path / "calm", tmp_path / "stopped"):
        for base in bases:
            run_job(base, out)
    for job in plus:
        run_job(job, tmp_path / "calm")
    with pytest.raises(interrupt.Interrupted):  # tiny_study: 4 steps an epoch, 8 in all
        run_fused(plus, tmp_path / "stopped", [stop_at(4)] * len(plus))
    interrupt.reset()
    for job in plus:
        folder = store.job_dir(tmp_path / "stopped", job.id)
        assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch_step"] == 1
        run_job(job, tmp_path / "stopped")  # alone, from the pass's mid-epoch state
        resumed = record_of(tmp_path / "stopped", job.id)
        calm = record_of(tmp_path / "calm", job.id)
        assert abs(resumed["top1"] - calm["top1"]) <= TOLERANCE
        for p, q in zip(resumed["history"], calm["history"], strict=True):
            assert abs(p["train_loss"] - q["train_loss"]) <= TOLERANCE
            assert p["val_acc"] == q["val_acc"]
        assert resumed["fused"] == "2+1"  # a stacked pass, then alone


# --- `run` in a subprocess, stopped by real signals -----------------------------------------


def write_study(folder: Path, fake_data: Path) -> Path:
    """4 nets of 20 epochs x 13 steps: long enough (~1 s a net) to be stopped mid-training."""
    path = folder / "study.toml"
    path.write_text(
        tiny_study_text(
            "interrupt", fake_data, epochs=20, batch_size=8, treatments=("BnB", "AnB+"), cuts=(3,)
        )
    )
    return path


def run_command(study: Path, out: Path, *flags: str) -> list[str]:
    # one thread everywhere: the inline and the process executor give the same bits
    return [sys.executable, "-m", "featuretransfer", "run", str(study), "--out", str(out)] + [
        "--quiet",
        "--threads",
        "1",
        *flags,
    ]


def records(out: Path) -> dict[str, dict]:
    return {r["job_id"]: r | {"seconds": None} for r in store.load_records(out)}


@pytest.fixture(scope="module")
def calm(tmp_path_factory, fake_data) -> tuple[Path, dict]:
    """The study file and the records of an undisturbed run."""
    folder = tmp_path_factory.mktemp("calm")
    study = write_study(folder, fake_data)
    subprocess.run(run_command(study, folder / "out"), check=True, timeout=300)
    return study, records(folder / "out")


def wait_for_training(out: Path, process: subprocess.Popen, limit_s: float = 120) -> None:
    """Until a net has saved its first epoch's checkpoint: it is in the middle of training."""
    deadline = time.monotonic() + limit_s
    while not any(out.glob("jobs/*/checkpoint.pt")):
        assert process.poll() is None, "the run ended before any net was under way"
        assert time.monotonic() < deadline, f"no checkpoint within {limit_s} s"
        time.sleep(0.01)


STOPPED = re.compile(
    r"^interrupted( at once)?: (\d+) nets done, (\d+) to go; run the same command to resume$",
    re.M,
)


@pytest.mark.parametrize(
    "workers, signals, to_group",
    [
        ("1", [signal.SIGINT], False),  # kill -INT PID
        ("2", [signal.SIGINT], True),  # Ctrl-C in a terminal: the parent and its workers
        pytest.param(  # the parent alone: it passes the stop on
            "2", [signal.SIGTERM], False, marks=pytest.mark.slow
        ),
        ("2", [signal.SIGTERM, signal.SIGINT], False),  # a second signal: out at once
    ],
)
def test_run_stops_on_a_signal_and_resumes_to_the_calm_numbers(
    tmp_path, calm, workers, signals, to_group
):
    study, expected = calm
    out = tmp_path / "out"
    process = subprocess.Popen(
        run_command(study, out, "--workers", workers),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        wait_for_training(out, process)
        for i, s in enumerate(signals):
            os.killpg(process.pid, s) if to_group else os.kill(process.pid, s)
            if i + 1 < len(signals):
                time.sleep(0.2)
        stopped_in = time.monotonic()
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    stopped_in = time.monotonic() - stopped_in
    assert process.returncode == 130, stderr
    matches = list(STOPPED.finditer(stderr))
    assert len(matches) == 1, stderr
    (match,) = matches
    assert bool(match[1]) == (len(signals) == 2)
    done, to_go = int(match[2]), int(match[3])
    assert done + to_go == len(expected) and to_go >= 1
    assert "failed" not in stderr and "Traceback" not in stderr
    assert not (out / "report").exists()  # no report of a partial study
    assert stopped_in < 30
    if len(signals) == 1:  # a clean stop: the net under way saved where it stood
        states = [torch.load(p, weights_only=True) for p in out.glob("jobs/*/checkpoint.pt")]
        assert any("epoch_step" in state for state in states)
    resumed = subprocess.run(
        run_command(study, out), capture_output=True, text=True, timeout=300, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained {to_go}, already done {done}, failed 0" in resumed.stderr
    assert records(out) == expected  # every field but the seconds, bit for bit
