"""Crash and resume, divergence and safe loading: no finished work lost, nothing executed."""

import csv
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import tiny_study_text

from featuretransfer import store
from featuretransfer.run.job import MissingParentError, run_job
from featuretransfer.study.plan import plan_study


class Crash(Exception):
    pass


def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path, tiny_study):
    study = replace(tiny_study, train=replace(tiny_study.train, epochs=3))
    base = next(j for j in plan_study(study) if j.display_name.startswith("s0:baseB"))
    record = json.loads((run_job(base, tmp_path / "a") / "record.json").read_text())

    def crash_after_epoch_2(step, total, metrics):
        if metrics.get("epoch") == 2:
            raise Crash

    with pytest.raises(Crash):
        run_job(base, tmp_path / "b", progress=crash_after_epoch_2)
    folder = store.job_dir(tmp_path / "b", base.id)
    assert (folder / "checkpoint.pt").is_file() and not (folder / "done").exists()
    resumed = json.loads((run_job(base, tmp_path / "b") / "record.json").read_text())
    assert "resumed after epoch 2" in (folder / "log.txt").read_text()
    assert not (folder / "checkpoint.pt").exists()
    lines = (folder / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    for r in (record, resumed):
        r.pop("seconds")
    assert resumed == record


def write_study(tmp_path, fake_data, epochs: int) -> str:
    path = tmp_path / "study.toml"
    path.write_text(
        tiny_study_text(
            "crash", fake_data, epochs, batch_size=8, treatments=("BnB", "AnB+"), cuts=(3,)
        )
    )
    return str(path)


def top1_by_job(out) -> dict:
    with open(out / "results.csv") as f:
        return {row["job_id"]: float(row["top1"]) for row in csv.DictReader(f)}


def wait_for_checkpoint(out: Path, process: subprocess.Popen, limit: float) -> None:
    """Until a job has saved a checkpoint (or the run ended, or `limit` seconds passed)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if any(out.glob("jobs/*/checkpoint.pt")):
            return
        time.sleep(0.02)


@pytest.mark.slow  # kills `run` several times: CI runs it in its own step
def test_sigkill_at_random_moments_loses_nothing(tmp_path, fake_data):
    """`run` killed with SIGKILL several times, then let finish: an undisturbed run's scores."""
    study = write_study(tmp_path, fake_data, epochs=4)
    command = [sys.executable, "-m", "featuretransfer", "run", study, "--quiet"]
    started = time.perf_counter()
    subprocess.run([*command, "--out", str(tmp_path / "calm")], check=True, timeout=300)
    calm_seconds = time.perf_counter() - started
    rng = random.Random(0)
    kills = 0
    for attempt in range(4):  # killed at random moments, started again
        process = subprocess.Popen(
            [*command, "--out", str(tmp_path / "killed")], stderr=subprocess.DEVNULL
        )
        try:
            if attempt == 0:  # surely mid-job: once the first checkpoint is on disk
                wait_for_checkpoint(tmp_path / "killed", process, limit=120)
                raise subprocess.TimeoutExpired(command, 0)
            process.wait(timeout=rng.uniform(0.3, 0.8) * calm_seconds)
        except subprocess.TimeoutExpired:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
    assert kills >= 1
    subprocess.run([*command, "--out", str(tmp_path / "killed")], check=True, timeout=300)
    assert top1_by_job(tmp_path / "killed") == pytest.approx(
        top1_by_job(tmp_path / "calm"), abs=1e-6
    )
    for folder in (tmp_path / "killed" / "jobs").iterdir():
        epochs = [json.loads(line)["epoch"] for line in (folder / "results.jsonl").open()]
        assert epochs == [1, 2, 3, 4]


def test_divergence_is_recorded_and_the_study_goes_on(tmp_path, fake_data):
    study = (
        Path(write_study(tmp_path, fake_data, epochs=2))
        .read_text()
        .replace("[train]\n", "[train]\nlr = 1e8\n")
        .replace('["BnB", "AnB+"]', '["random"]')
    )
    (tmp_path / "study.toml").write_text(study)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "featuretransfer",
            "run",
            str(tmp_path / "study.toml"),
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and "trained 3, already done 0, failed 0" in run.stderr
    records = store.load_records(out)
    assert {r["status"] for r in records} == {"diverged"}
    assert all(r["top1"] != r["top1"] for r in records)  # NaN: no score for a diverged net
    status = subprocess.run(
        [sys.executable, "-m", "featuretransfer", "status", str(out)],
        capture_output=True,
        text=True,
    )
    assert "done: 3" in status.stdout and "diverged: 3" in status.stdout


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/featuretransfer-pwned",))


def test_planted_pickle_is_refused_and_never_runs(tmp_path, tiny_job):
    if os.path.exists("/tmp/featuretransfer-pwned"):
        os.remove("/tmp/featuretransfer-pwned")
    base = store.job_dir(tmp_path, tiny_job["baseA"].id)
    base.mkdir(parents=True)
    (base / "model.pt").write_bytes(pickle.dumps(Exploit(), protocol=2))
    (base / "record.json").write_text('{"weights": "jobs/%s/model.pt"}' % tiny_job["baseA"].id)
    (base / "done").write_text("")  # a planted folder: its record names no weights it wrote
    with pytest.raises(MissingParentError, match="which is not done"):
        run_job(tiny_job["A2B"], tmp_path)
    with pytest.raises(store.DamagedError):
        store.load_weights(base / "model.pt")
    target = store.job_dir(tmp_path, tiny_job["baseB"].id)
    target.mkdir(parents=True)
    (target / "spec.json").write_text("{}")
    (target / "checkpoint.pt").write_bytes(pickle.dumps(Exploit(), protocol=2))
    run_job(tiny_job["baseB"], tmp_path)  # the bad checkpoint is ignored; the job starts again
    time.sleep(0.1)
    assert not os.path.exists("/tmp/featuretransfer-pwned")
