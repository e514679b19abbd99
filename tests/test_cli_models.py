"""The command line with a user's model: one-line errors (exit 2), status of its output folder."""

import shutil
from pathlib import Path

from featuretransfer.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"


def study(tmp_path, fake_data, model: str) -> str:
    shutil.copy(EXAMPLES / "my_nets.py", tmp_path / "my_nets.py")
    path = tmp_path / "study.toml"
    path.write_text(
        f"""name = "cli-model"
[data]
n_val = 40
path = "{fake_data}"
[model]
name = "my_nets:build"
file = "my_nets.py"
args = {{ width = 4 }}
{model}
[train]
epochs = 1
batch_size = 32
lr_milestones = []
best_k = 1
[study]
treatments = ["AnB"]
cuts = [3]
"""
    )
    return str(path)


def test_a_user_model_runs_and_its_folder_has_a_status(tmp_path, fake_data, capsys):
    units = 'units = ["stem", "block1", "block2", "block3", "head"]'
    out = tmp_path / "out"
    assert main(["run", study(tmp_path, fake_data, units), "--out", str(out), "--quiet"]) == 0
    assert (out / "results.csv").read_text().count("\n") == 4  # header, baseA, baseB, A3B
    capsys.readouterr()
    assert main(["status", str(out)]) == 0  # the model file is found beside the study file
    assert capsys.readouterr().out.startswith("done: 3")


def test_units_that_miss_parameters_end_in_one_line(tmp_path, fake_data, capsys):
    units = 'units = ["stem", "block1", "block2", "head"]'
    code = main(["run", study(tmp_path, fake_data, units), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "model.units must hold every parameter exactly once; in no unit: block3.0.weight" in err
    assert not (tmp_path / "o" / "jobs").exists()  # refused before any training


def test_a_model_file_that_does_not_import_ends_in_one_line(tmp_path, fake_data, capsys):
    path = study(tmp_path, fake_data, 'units = ["stem", "head"]')
    (tmp_path / "my_nets.py").write_text("import not_a_module_anywhere\n")
    assert main(["plan", path]) == 2
    err = capsys.readouterr().err
    assert (
        "model.file = '" in err and "my_nets.py': importing it failed: ModuleNotFoundError" in err
    )
