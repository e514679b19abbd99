"""The output folder as the truth, with one writer: a second `run` on a busy folder exits 2
naming the holder; `status` shows the net being trained with its epoch and step; `report`
builds from the plan and the records (a damaged net left out and listed, a missing results.csv
rebuilt); every net records how well it fits its own training images."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

from conftest import tiny_study_text

from featuretransfer import store
from featuretransfer.cli import main


def slow_study(data) -> str:
    """A study that never finishes (5,000 epochs): the test kills it."""
    return tiny_study_text("busy", data, epochs=5000, batch_size=8, treatments=("AnB+",), cuts=(3,))


def featuretransfer(*args: str) -> list[str]:
    return [sys.executable, "-m", "featuretransfer", *args]


def test_a_busy_folder_refuses_a_second_run_and_status_shows_the_net_training(tmp_path, fake_data):
    study, out = tmp_path / "busy.toml", tmp_path / "out"
    study.write_text(slow_study(fake_data))
    first = subprocess.Popen(
        featuretransfer("run", str(study), "--out", str(out), "--quiet", "--threads", "1"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(out.glob("jobs/*/heartbeat.json")):  # a net is under way
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = subprocess.run(
            featuretransfer("run", str(study), "--out", str(out), "--quiet"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip()
        assert "\n" not in line and "Traceback" not in line
        assert f"is being written by 'featuretransfer run' (pid {first.pid} on " in line
        status = subprocess.run(
            featuretransfer("status", str(out)), capture_output=True, text=True, timeout=120
        )
        assert status.returncode == 0, status.stderr
        assert f"being written by 'featuretransfer run' (pid {first.pid}" in status.stdout
        assert "running: 1" in status.stdout
        assert "s0:base" in status.stdout and ", step " in status.stdout  # which net, where
        assert "incomplete: 0" in status.stdout
    finally:
        os.kill(first.pid, signal.SIGKILL)  # as a crash would
        first.wait(timeout=30)
    status = subprocess.run(featuretransfer("status", str(out)), capture_output=True, text=True)
    assert "running: 0" in status.stdout and "incomplete: 1" in status.stdout
    assert "being written" not in status.stdout


TINY = tiny_study_text("t", cuts=(2, 5), data_keys="n_train_per_class = 6\n")


def test_report_reads_the_records_not_a_stale_table(tmp_path, fake_data, caplog):
    study, out = tmp_path / "t.toml", tmp_path / "out"
    study.write_text(TINY)
    assert main(["run", str(study), "--data", str(fake_data), "--out", str(out), "--quiet"]) == 0
    records = store.load_records(out)
    assert all(math.isfinite(r["train_top1"]) for r in records)  # transfer nets too
    damaged = next(r for r in records if r["name"].startswith("s0:A5B"))
    (store.job_dir(out, damaged["job_id"]) / "record.json").write_text("{not json")
    caplog.clear()
    assert main(["report", str(out)]) == 0
    err = caplog.text
    assert f"left out {damaged['name']} ({damaged['job_id']}): damaged" in err
    table = (out / "results.csv").read_text()
    assert damaged["job_id"] not in table and len(table.splitlines()) == 1 + len(records) - 1
    page = (out / "report" / "index.html").read_text()
    assert "Left out of this report" in page and damaged["name"] in page
    assert "n_train_per_class" in page  # the study's settings
    (out / "results.csv").unlink()
    assert main(["report", str(out)]) == 0  # rebuilt from the records, not refused
    assert (out / "results.csv").read_text() == table
    assert json.loads((out / "plan.json").read_text())  # the plan is what decides


def test_status_flags_nets_at_chance(tmp_path, fake_data, capsys):
    study, out = tmp_path / "t.toml", tmp_path / "out"
    study.write_text(TINY)
    assert main(["run", str(study), "--data", str(fake_data), "--out", str(out), "--quiet"]) == 0
    records = store.load_records(out)
    assert all(r["n_classes"] == 5 and r["n_test"] > 0 for r in records)
    # 5 classes: chance is 0.2, and a net below 0.2 + 0.08 has learnt next to nothing
    for r, top1 in zip(records, [0.90, 0.279] + [0.281] * (len(records) - 2)):
        (store.job_dir(out, r["job_id"]) / "record.json").write_text(json.dumps(r | {"top1": top1}))
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    shown = capsys.readouterr().out
    assert f"at or near chance (left out of the verdicts): 1\n  {records[1]['name']}\n" in shown
