import json
import subprocess
import sys
from pathlib import Path

import pytest

from featuretransfer.cli import main
from featuretransfer.study.studyfile import preset_path


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
    assert "30 jobs" in out and "s0:A3B+#0" in out


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
        (["report", "/no/such/dir"], "has no results.csv"),
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


def test_run_status_and_rerun_end_to_end(tmp_path, fake_data):
    out = tmp_path / "out"
    text = (
        Path(str(preset_path("fashion-mnist-smoke")))
        .read_text()
        .replace("n_val = 500", "n_val = 40")
        .replace("n_train_per_class = 300", "")
    )
    (tmp_path / "smoke.toml").write_text(text)
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
        "split,source,target,treatment,n,fine_tuned,top1\n"
        "s0,B,B,base,0,false,0.62\ns0,A,B,transfer,3,true,0.64\n"
        "s0,B,B,selffer,3,true,0.63\n"
    )
    assert main(["report", "--results", str(table), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report" / "table1.csv").is_file()
    table.write_text("split,source,target,treatment,n,fine_tuned,top1\ns0,B,B,base,0,false,high\n")
    assert main(["report", "--results", str(table), "--out", str(tmp_path / "r")]) == 2
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
    (other / "study.json").write_text('{"name": "someone-else"}')
    assert run_tiny(tmp_path, fake_data, other) == 2
    err = capsys.readouterr().err
    assert "holds another study ('someone-else'" in err and "give another --out" in err


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


def test_estimate_trains_only_base_nets_then_reads_them_from_the_folder(
    tmp_path, fake_data, capsys
):
    out = tmp_path / "out"
    text = (
        Path(str(preset_path("fashion-mnist-smoke")))
        .read_text()
        .replace("n_val = 500", "n_val = 40")
        .replace("n_train_per_class = 300", "")
    )
    (tmp_path / "smoke.toml").write_text(text)
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
