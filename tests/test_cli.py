import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_study_text

import featuretransfer
from featuretransfer import store
from featuretransfer.cli import main
from featuretransfer.run.runner import ProgressBars
from featuretransfer.study.plan import plan_study
from featuretransfer.study.precision import resolve_precision
from featuretransfer.study.studyfile import load_study, preset_path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "featuretransfer", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_split_prints_json(capsys):
    assert main(["split", "--classes", "10", "--seed", "0"]) == 0
    assert json.loads(capsys.readouterr().out) == {"A": [0, 1, 3, 7, 8], "B": [2, 4, 5, 6, 9]}
    assert main(["split", "--groups", "apparel-vs-footwear"]) == 0
    assert json.loads(capsys.readouterr().out)["B"] == [5, 7, 8, 9]


def test_presets_and_plan(capsys):
    assert main(["presets"]) == 0
    assert "fashion-mnist-smoke" in capsys.readouterr().out
    assert main(["plan", "--preset", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "155 jobs" in out and "s4:A4B+#0" in out and "s0:baseB-longer#0" in out


def study_file(tmp_path, extra: str = "") -> str:
    path = tmp_path / "s.toml"
    path.write_text('name = "t"\n' + extra)
    return str(path)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "missing.toml"], "missing.toml does not exist"),
        (["run", "--workers", "0", "--preset", "fashion-mnist-smoke"], "--workers 0"),
        (
            ["run", "--preset", "fashion-mnist-smoke", "--data", "/no/such/dir"],
            "/no/such/dir does not exist",
        ),
        (["split", "--groups", "nope"], "no built-in group split 'nope'"),
        (["split"], "give either --classes"),
        (["status", "/no/such/dir"], "holds no study"),
        (["frobnicate"], "invalid choice"),
        (["report"], "give a study's output folder"),
        (
            ["run", "--preset", "fashion-mnist-smoke", "--address", "h:1"],
            "--address needs --executor ray",
        ),
        (["report", "/no/such/dir"], "holds no study"),
        (["run", "--workers", "two"], "invalid int value"),
        (["run", "--preset", "fashion-mnist-smoke", "--device", "tpu"], "--device tpu: use"),
        (["run", "--preset", "fashion-mnist-smoke", "--fuse", "0"], "--fuse 0: give auto"),
        (["run", "--preset", "fashion-mnist-smoke", "--device", "cuda:7"], "CUDA device(s)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_study_file_and_output_path(tmp_path, capsys):
    assert main(["run", study_file(tmp_path, "[study]\ncuts = [9]\n")]) == 2
    assert "outside 1..7" in capsys.readouterr().err
    (tmp_path / "afile").write_text("")
    assert main(["run", study_file(tmp_path), "--out", str(tmp_path / "afile")]) == 2
    assert "is a file" in capsys.readouterr().err


def write_smoke_study(path: Path) -> Path:
    """The smoke preset sized for the tiny fake data: 40 validation images, every train image."""
    text = Path(str(preset_path("fashion-mnist-smoke"))).read_text()
    path.write_text(
        text.replace("n_val = 500", "n_val = 40").replace("n_train_per_class = 300", "")
    )
    return path


def test_run_status_and_rerun_end_to_end(tmp_path, fake_data):
    out = tmp_path / "out"
    write_smoke_study(tmp_path / "smoke.toml")
    smoke = ["run", str(tmp_path / "smoke.toml"), "--data", str(fake_data), "--out", str(out)]
    first = run_cli(*smoke, "--workers", "2")
    assert first.returncode == 0, first.stderr
    assert "trained 12, already done 0" in first.stderr
    assert len((out / "results.csv").read_text().splitlines()) == 13
    assert (out / "report" / "index.html").is_file() and (out / "report" / "figure2.png").is_file()
    status = run_cli("status", str(out))
    assert "done: 12" in status.stdout and "incomplete: 0" in status.stdout
    second = run_cli(*smoke, "--quiet")
    assert second.returncode == 0 and "trained 0, already done 12" in second.stderr


def test_report_from_a_foreign_table(tmp_path, capsys):
    table = tmp_path / "theirs.csv"
    table.write_text(
        "split,source,target,treatment,n_copied,fine_tune,top1\n"
        "s0,B,B,base,0,false,0.62\ns0,A,B,transfer,3,true,0.64\n"
        "s0,B,B,selffer,3,true,0.63\n"
    )
    assert main(["report", "--results", str(table), "--out", str(tmp_path / "r")]) == 2  # no L
    assert "--layers L" in capsys.readouterr().err
    report = ["report", "--results", str(table), "--out", str(tmp_path / "r"), "--layers", "8"]
    assert main(report) == 0
    assert (tmp_path / "r" / "report" / "table1.csv").is_file()
    table.write_text(
        "split,source,target,treatment,n_copied,fine_tune,top1\ns0,B,B,base,0,false,high\n"
    )
    assert main(report) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "top1" in err and err.count("\n") == 1


def test_truncated_data_file_is_named(tmp_path, fake_data, capsys):
    broken = tmp_path / "data"
    broken.mkdir()
    for path in fake_data.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    labels = broken / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-8])
    assert (
        main(["run", study_file(tmp_path), "--data", str(broken), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err
    assert "train-labels-idx1-ubyte.gz" in err and err.count("\n") == 1


def run_tiny(tmp_path, fake_data, out) -> int:
    study = study_file(tmp_path, "[data]\nn_val = 40\n")
    return main(["run", study, "--data", str(fake_data), "--out", str(out)])


def test_unwritable_output_and_another_study(tmp_path, fake_data, capsys):
    (tmp_path / "afile").write_text("")
    assert run_tiny(tmp_path, fake_data, tmp_path / "afile" / "below") == 2
    assert "cannot write to --out" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "study.json").write_text('{"name": "someone-else"}')  # no store version
    assert run_tiny(tmp_path, fake_data, other) == 2
    err = capsys.readouterr().err
    assert "written by another version" in err and "--set-aside" in err
    record = {"name": "someone-else", "store_version": store.STORE_VERSION}
    (other / "study.json").write_text(json.dumps(record))
    assert run_tiny(tmp_path, fake_data, other) == 2
    err = capsys.readouterr().err
    assert "holds study 'someone-else' with other settings" in err and "--set-aside" in err


def tiny(epochs: int) -> str:
    return tiny_study_text("t", epochs=epochs, data_keys="n_train_per_class = 6\n")


def test_a_changed_setting_never_pools(tmp_path, fake_data, capsys):
    out, study = tmp_path / "out", tmp_path / "t.toml"
    run = ["run", str(study), "--data", str(fake_data), "--out", str(out), "--quiet"]
    study.write_text(tiny(1))
    assert main(run) == 0
    first = (out / "results.csv").read_text().splitlines()
    capsys.readouterr()
    study.write_text(tiny(2))
    assert main(run) == 2
    err = capsys.readouterr().err
    assert "train.epochs" in err and "--set-aside" in err and err.count("\n") == 1
    assert (out / "results.csv").read_text().splitlines() == first  # nothing touched
    assert main([*run, "--set-aside"]) == 0
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == len(first) == 5  # header + baseA, baseB, B2B, A2B: the 2-epoch nets only
    assert all(row.split(",")[0] not in "".join(first[1:]) for row in rows[1:])
    aside = next((out / "set-aside").iterdir())
    assert len(list((aside / "jobs").iterdir())) == 4 and (aside / "study.json").is_file()
    status = run_cli("status", str(out))
    assert "done: 4" in status.stdout and "not part of this study" not in status.stdout


def test_ray_address_that_does_not_answer(capsys):
    pytest.importorskip("ray")
    args = [
        "run",
        "--preset",
        "fashion-mnist-smoke",
        "--executor",
        "ray",
        "--address",
        "127.0.0.1:1",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:1" in err and "ray start --head" in err and err.count("\n") == 1


def test_a_closed_pipe_ends_plan_quietly(tmp_path):
    """`plan | head -1`: the reader is gone before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        plan = subprocess.run(
            [sys.executable, "-m", "featuretransfer", "plan", "--preset", "fashion-mnist"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert plan.returncode == 141 and plan.stderr == ""


def test_version():
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith(f"featuretransfer {featuretransfer.__version__} (torch ")


def test_status_without_a_folder_reads_the_default_study(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 2
    assert "runs/fashion-mnist holds no study" in capsys.readouterr().err
    for preset in ("fashion-mnist", "fashion-mnist-smoke"):  # planned, as `run` leaves them
        (tmp_path / "runs" / preset).mkdir(parents=True)
        study = resolve_precision(load_study(preset_path(preset)), "cpu")
        store.write_plan(tmp_path / "runs" / preset, plan_study(study))
    assert main(["status"]) == 0
    assert "not launched: 155" in capsys.readouterr().out
    assert main(["status", "--preset", "fashion-mnist-smoke"]) == 0
    assert "not launched: 12" in capsys.readouterr().out


def test_data_that_is_a_file_is_named_as_one(tmp_path, capsys):
    (tmp_path / "train.gz").write_text("")
    assert main(["plan", "--preset", "fashion-mnist", "--data", str(tmp_path / "train.gz")]) == 2
    err = capsys.readouterr().err
    assert "train.gz is a file; give the folder that holds the data set" in err
    assert err.count("\n") == 1


def test_plan_lists_jobs_in_dependency_order_with_names_and_classes(capsys):
    assert main(["plan", "--preset", "fashion-mnist-smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "split s0 (random): A = T-shirt/top, Trouser, Dress, Sneaker, Bag; "
        "B = Pullover, Coat, Sandal, Shirt, Ankle boot" in lines
    )
    rows = [line.split() for line in lines if line.startswith("s0:")]
    names = [row[0] for row in rows]
    assert len(rows) == 12 and names[:2] == ["s0:baseA#0", "s0:baseB#0"]
    for row in rows:  # needs are named, and listed before the net that needs them
        need = row[5]
        assert need == "-" or names.index(need) < names.index(row[0])
    assert rows[names.index("s0:A2B+#0")][5] == "s0:baseA#0"
    # after the base nets (and the random controls, which need none), the study's own order
    transfers = [n for n in names if not n.startswith(("s0:base", "s0:R"))]
    assert transfers == [
        f"s0:{t}#0" for n in (2, 5) for t in (f"B{n}B", f"B{n}B+", f"A{n}B", f"A{n}B+")
    ]


def test_a_net_bar_shows_its_real_total_from_the_start(tiny_job):
    bars = ProgressBars(total=12, done=0, enabled=True)
    try:
        bars.start(tiny_job["baseB"])
        bar = bars.jobs[tiny_job["baseB"].id]
        assert str(bar) == "s0:baseB#0: starting"
        assert "/1 " not in str(bar) and "step/s" not in str(bar)
        bars.update(tiny_job["baseB"].id, 0, 12, {})
        assert "0/12" in str(bar)
    finally:
        bars.close()


def test_status_and_report_flag_nets_trained_under_other_threads(tmp_path, fake_data, capsys):
    study = study_file(tmp_path, "[data]\nn_val = 40\n[train]\nepochs = 1\n[study]\ncuts = [3]\n")
    out = tmp_path / "out"
    run = ["run", study, "--data", str(fake_data), "--out", str(out), "--quiet"]
    assert main([*run, "--threads", "1"]) == 0
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    assert "mixed" not in capsys.readouterr().out
    records = store.load_records(out)
    assert {(r["threads"], r["device"], r["fused"]) for r in records} == {("1", "cpu", "1")}
    with open(out / "results.csv") as f:
        assert {row["threads"] for row in csv.DictReader(f)} == {"1"}
    spec = json.loads((out / "jobs" / records[0]["job_id"] / "spec.json").read_text())
    assert spec["runtime"] == {"threads": 1, "device": "cpu", "fused": 1}
    retrained = next(r for r in records if r["treatment"] == "selffer")
    shutil.rmtree(out / "jobs" / retrained["job_id"])
    try:
        assert main([*run, "--threads", "2"]) == 0
    finally:
        torch.set_num_threads(1)
    capsys.readouterr()
    assert main(["status", str(out)]) == 0
    assert "mixed threads: 1 (6 nets), 2 (1 nets); each net's numbers" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    page = (out / "report" / "index.html").read_text()
    assert "Mixed training settings</b>: threads 1 (6 nets), 2 (1 nets)" in page


def test_threads_must_be_positive_and_local(capsys):
    assert main(["run", "--preset", "fashion-mnist-smoke", "--threads", "0"]) == 2
    assert "--threads 0: give 1 or more" in capsys.readouterr().err


def test_estimate_trains_only_base_nets_then_reads_them_from_the_folder(
    tmp_path, fake_data, capsys
):
    out = tmp_path / "out"
    write_smoke_study(tmp_path / "smoke.toml")
    first = run_cli(
        "estimate",
        str(tmp_path / "smoke.toml"),
        "--data",
        str(fake_data),
        "--out",
        str(out),
        "--quiet",
        "--device",
        "cpu",
    )
    assert first.returncode == 0, first.stderr
    assert "base nets: trained 2, already done 0" in first.stderr
    assert "estimates (not measurements) in" in first.stderr
    assert len(list((out / "jobs").iterdir())) == 2  # nothing but baseA and baseB
    assert (out / "estimates" / "scores.csv").is_file()
    page = (out / "report" / "index.html").read_text()
    assert "Estimates: predicting the transfer curve cheaply" in page
    assert main(["estimate", str(out), "--data", str(fake_data), "--quiet", "--device", "cpu"]) == 0
    assert "trained 0, already done 2" in capsys.readouterr().err  # a study folder: read, not run
    assert main(["estimate", str(tmp_path)]) == 2  # a folder without a study
    assert "holds no study" in capsys.readouterr().err


def test_estimate_of_a_finished_study_keeps_its_results_csv(tmp_path, fake_data):
    out, study = tmp_path / "out", tmp_path / "t.toml"
    study.write_text(tiny(1))
    assert main(["run", str(study), "--data", str(fake_data), "--out", str(out), "--quiet"]) == 0
    before = (out / "results.csv").read_text()
    assert main(["estimate", str(out), "--quiet"]) == 0  # runs the base nets' jobs only
    assert (out / "results.csv").read_text() == before  # every net of the plan is still there
