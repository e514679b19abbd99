"""CSV data sets (`data.name = "csv"`): a tiny one written here, run end to end to a report; its
two layouts, labels as names or indices, its fingerprint, and one line for each bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import featuretransfer
from featuretransfer.cli import main
from featuretransfer.data.csvdata import load_csv
from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import class_names, fingerprint
from featuretransfer.specs import DataSpec

COLOURS = {"cat": (220, 40, 40), "dog": (40, 220, 40), "emu": (40, 40, 220), "yak": (220, 220, 40)}


def write_images(root: Path, n_train: int = 6, n_test: int = 2) -> list[tuple[str, str, str]]:
    """PNGs of each class's colour plus noise, in root/img/<class>/; (path, label, split) rows
    with paths relative to root."""
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for name, colour in COLOURS.items():
        (root / "img" / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_train + n_test):
            pixels = np.clip(rng.normal(colour, 30, size=(20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "img" / name / f"{i}.png")
            rows.append((f"img/{name}/{i}.png", name, "train" if i < n_train else "test"))
    return rows


def write_csv(path: Path, rows, header=("path", "label", "split")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text().splitlines()))[1:]


@pytest.fixture
def csv_data(tmp_path) -> Path:
    """tmp_path/data/labels.csv: 4 classes x (6 train + 2 test) images, every split in one file."""
    rows = write_images(tmp_path / "data")
    return write_csv(tmp_path / "data" / "labels.csv", rows)


STUDY = """name = "csv-tiny"
[data]
name = "csv"
path = "{path}"
n_val = 4
image_size = 16
[model]
width = 0.1
[train]
epochs = 1
batch_size = 8
lr_milestones = []
best_k = 1
precision = "fp32"
[study]
treatments = ["AnB"]
cuts = [3]
targets = ["B"]
[[splits]]
name = "colours"
A = ["cat", "dog"]
B = ["emu", "yak"]
"""


def test_a_csv_data_set_runs_end_to_end_to_a_report(tmp_path, csv_data, monkeypatch, capsys):
    study = tmp_path / "study" / "csv.toml"
    study.parent.mkdir()
    study.write_text(STUDY.format(path="../data/labels.csv"))  # relative to the study file
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path / "study")  # image paths are relative to the CSV, not to here
    assert main(["run", str(study), "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert "trained 3, already done 0" in capsys.readouterr().err  # baseA, baseB, A3B
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["treatment"], r["target"]) for r in rows) == [
        ("base", "A"),
        ("base", "B"),
        ("transfer", "B"),
    ]
    assert all(r["n_classes"] == "2" and r["n_test"] == "4" for r in rows)  # 2 classes x 2
    assert (out / "report" / "index.html").is_file()
    assert json.loads((out / "study.json").read_text())["class_names"] == list(COLOURS)
    # the API takes the CSV file itself as `data` (--data takes folders): every net is done
    done = featuretransfer.load_results(out)
    assert featuretransfer.run_study(study, out, data=csv_data, progress=False) == out
    assert featuretransfer.load_results(out) == done
    # the data planned by content: a changed image is other data, so other nets
    first = json.loads((out / "study.json").read_text())["data"]["fingerprint"]
    from PIL import Image

    Image.new("RGB", (20, 24), (0, 0, 0)).save(csv_data.parent / "img" / "cat" / "0.png")
    spec = DataSpec(name="csv", path=str(csv_data))
    assert fingerprint(spec) not in (first, "")


def test_the_two_layouts_read_the_same_images(tmp_path, csv_data):
    one_file = load_csv(DataSpec(name="csv", path=str(csv_data), n_val=4), workers=1)
    rows = read_rows(csv_data)
    folder = tmp_path / "split-files"
    # one file per split, in a folder of its own: paths relative to each CSV's folder
    train = [(f"../data/{p}", y) for p, y, s in rows if s == "train"]
    test = [(f"../data/{p}", y) for p, y, s in rows if s == "test"]
    write_csv(folder / "train.csv", train, ("path", "label"))
    write_csv(folder / "val.csv", test, ("Path", "Label"))  # val: the test set; any case
    split_files = load_csv(DataSpec(name="csv", path=str(folder), n_val=4), workers=1)
    assert one_file.classes == split_files.classes == tuple(COLOURS)
    for part in ("train_x", "train_y", "val_x", "test_x", "test_y"):
        assert torch.equal(getattr(one_file, part), getattr(split_files, part)), part
    assert one_file.train_x.shape == (24 - 4, 3, 32, 32)  # data.image_size 0: 32 px
    assert torch.equal(one_file.test_y, torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]))
    # each image's mean colour is its class's (noise averages out)
    for x, y in zip(one_file.test_x, one_file.test_y):
        colour = torch.tensor(COLOURS[one_file.classes[y]], dtype=torch.float32)
        assert (x.float().mean((1, 2)) - colour).abs().max() < 12


def test_index_labels_name_their_classes_and_the_fingerprint_ignores_where_data_lie(tmp_path):
    rows = write_images(tmp_path / "a")
    index = {name: str(i) for i, name in enumerate(COLOURS)}
    path = write_csv(tmp_path / "a" / "labels.csv", [(p, index[y], s) for p, y, s in rows])
    spec = DataSpec(name="csv", path=str(path), n_val=2)
    assert class_names(spec) == ("0", "1", "2", "3")
    assert load_csv(spec).test_y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    shutil.copytree(tmp_path / "a", tmp_path / "moved")  # copy2: sizes and mtimes kept
    moved = DataSpec(name="csv", path=str(tmp_path / "moved" / "labels.csv"))
    assert fingerprint(moved) == fingerprint(spec)
    text = path.read_text().replace("img/dog/0.png,1,", "img/dog/0.png,2,")  # one label changed
    (tmp_path / "moved" / "labels.csv").write_text(text)
    assert fingerprint(moved) != fingerprint(spec)


def bad(rows: list, line: int, value: str) -> list:
    """The rows with row `line` (the file's line number: the header is line 1) set to `value`."""
    rows = list(rows)
    rows[line - 2] = value.split(",")
    return rows


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda r: bad(r, 5, "img/cat/99.png,cat,train"),
            r"labels.csv, line 5: image .*img/cat/99.png not found",
        ),
        (lambda r: bad(r, 4, "img/cat/2.png,,train"), r"labels.csv, line 4: empty label"),
        (
            lambda r: bad(r, 4, "img/cat/2.png,3,train"),
            r"line \d+: label 'cat' is a name, but .*line 4 has the class index '3'",
        ),
        (
            lambda r: bad(r, 9, "img/cat/7.png,gnu,test"),
            r"line 9: label 'gnu' has no train rows, so it is not one of the classes \(cat, dog,",
        ),
        (
            lambda r: bad(r, 9, "img/cat/7.png,cat,holdout"),
            r"line 9: split 'holdout' should be train, test or val",
        ),
        (
            lambda r: bad(r, 9, "img/cat/0.png,cat,test"),
            r"line 9: img/cat/0.png is listed again \(first at .*line 2\)",
        ),
        (
            lambda r: [x for x in r if x[1] != "yak" or x[2] != "test"],
            r"class 'yak' has no test rows",
        ),
        (lambda r: [x for x in r if x[2] != "test"], r"no test \(or val\) rows"),
    ],
)
def test_bad_rows_are_one_line_naming_the_csv_line(tmp_path, csv_data, change, message, capsys):
    rows = read_rows(csv_data)
    write_csv(csv_data, change(rows))
    with pytest.raises(DataError, match=message):
        fingerprint(DataSpec(name="csv", path=str(csv_data)))
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(path=csv_data))
    assert main(["run", str(study), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("featuretransfer: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_index_labels_start_at_0_and_files_say_what_they_lack(tmp_path):
    rows = write_images(tmp_path, n_train=2, n_test=1)
    index = {"cat": "-1", "dog": "1", "emu": "2", "yak": "3"}
    path = write_csv(tmp_path / "labels.csv", [(p, index[y], s) for p, y, s in rows])
    with pytest.raises(DataError, match=r"labels.csv, line 2: label -1 is not a class index"):
        class_names(DataSpec(name="csv", path=str(path)))
    index["cat"] = "5"  # 0 and 4 have no rows
    write_csv(path, [(p, index[y], s) for p, y, s in rows])
    with pytest.raises(DataError, match=r"class '0' has no train rows"):
        class_names(DataSpec(name="csv", path=str(path)))
    write_csv(path, [(p, y) for p, y, _ in rows], header=("path", "label"))
    with pytest.raises(DataError, match=r"header row \(line 1\) lacks split .*as train.csv beside"):
        class_names(DataSpec(name="csv", path=str(path)))
    write_csv(path, [(p, y) for p, y, _ in rows], header=("file", "class"))
    with pytest.raises(DataError, match=r"lacks path, label, split \(it has file, class\)"):
        class_names(DataSpec(name="csv", path=str(path)))
    path.write_bytes("path,label,split\nimg/caf\xe9.png,cat,train\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"labels.csv, line 2: byte 0xe9 is not UTF-8"):
        class_names(DataSpec(name="csv", path=str(path)))
    with pytest.raises(DataError, match=r"img: no train.csv; the folder of a csv data set"):
        class_names(DataSpec(name="csv", path=str(tmp_path / "img")))
    write_csv(tmp_path / "img" / "train.csv", [(p, y) for p, y, _ in rows], ("path", "label"))
    with pytest.raises(DataError, match=r"img: no test.csv \(or val.csv\)"):
        class_names(DataSpec(name="csv", path=str(tmp_path / "img")))
    with pytest.raises(DataError, match=r"csv needs data.path"):
        class_names(DataSpec(name="csv"))
    with pytest.raises(DataError, match=r"data.path .*nowhere.csv does not exist"):
        class_names(DataSpec(name="csv", path=str(tmp_path / "nowhere.csv")))
