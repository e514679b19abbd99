"""A user's own IDX data set: its class count from the labels, its names from the study or a
classes.txt, splits checked against its classes, and no more images per class than it has."""

import gzip
import json

import numpy as np
import pytest
from conftest import write_idx

from featuretransfer import store
from featuretransfer.cli import main
from featuretransfer.data import fingerprint
from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import class_names, load_dataset, with_fingerprint
from featuretransfer.specs import DataSpec
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study
from featuretransfer.study.studyspec import StudyError


def idx_set(folder, n_classes: int, per_class: int = 12, names: list[str] | None = None):
    """Learnable 28x28 images, class c a bright band at row 2c (mod 24)."""
    rng = np.random.default_rng(n_classes)
    folder.mkdir(parents=True)
    for part, n in (("train", per_class), ("t10k", 4)):
        labels = np.repeat(np.arange(n_classes), n)
        images = rng.integers(0, 60, size=(len(labels), 28, 28))
        for i, c in enumerate(labels):
            row = (2 * c) % 24 + 2
            images[i, row : row + 3, 4:24] += 180
        write_idx(folder / f"{part}-images-idx3-ubyte", images.astype(np.uint8))
        write_idx(folder / f"{part}-labels-idx1-ubyte", labels.astype(np.uint8))
    if names:
        (folder / "classes.txt").write_text("\n".join(names) + "\n")
    return folder


STUDY = """name = "mine"
[data]
name = "idx"
n_val = {n_val}
{extra}
[model]
width = 0.1
[train]
epochs = 1
batch_size = 16
lr_milestones = []
best_k = 1
[study]
treatments = ["AnB"]
cuts = [2]
{splits}
"""


def study_file(tmp_path, folder, splits="[[splits]]\nseed = 0", extra="", n_val=6):
    path = tmp_path / "mine.toml"
    path.write_text(STUDY.format(splits=splits, extra=extra, n_val=n_val))
    return load_study(path, data_path=str(folder)), path


def test_six_classes_named_by_classes_txt(tmp_path):
    names = ["ant", "bee", "cat", "dog", "eel", "fox"]
    folder = idx_set(tmp_path / "six", 6, names=names)
    assert class_names(DataSpec(name="idx", path=str(folder))) == tuple(names)
    study, _ = study_file(tmp_path, folder)
    split = study.splits[0]
    assert sorted(split.A + split.B) == list(range(6)) and len(split.A) == 3
    groups = '[[splits]]\nname = "pets"\nA = ["cat", "dog"]\nB = ["ant", "bee"]'
    assert study_file(tmp_path, folder, groups)[0].splits[0].A == (2, 3)
    with pytest.raises(StudyError, match="class index 7 not in 0..5"):
        study_file(tmp_path, folder, '[[splits]]\nname = "x"\nA = [7]\nB = [0]')
    with pytest.raises(StudyError, match="unknown class 'yak'"):
        study_file(tmp_path, folder, '[[splits]]\nname = "x"\nA = ["yak"]\nB = ["ant"]')


def test_twelve_classes_keep_labels_ten_and_eleven(tmp_path, capsys):
    folder = idx_set(tmp_path / "twelve", 12)
    names = [f"c{i}" for i in range(12)]
    extra = f"class_names = {names!r}".replace("'", '"')
    study, path = study_file(tmp_path, folder, extra=extra)
    assert class_names(study.data) == tuple(names)
    split = study.splits[0]
    assert sorted(split.A + split.B) == list(range(12))  # 10 and 11 are in a half
    out = tmp_path / "out"
    assert main(["run", str(path), "--data", str(folder), "--out", str(out), "--quiet"]) == 0
    assert len((out / "results.csv").read_text().splitlines()) == 1 + len(plan_study(study))
    trained = {c for record in store.load_records(out) for c in record["classes"]}
    assert {10, 11} <= trained  # nets saw the labels a 10-class reading would drop


def test_class_names_must_match_the_labels(tmp_path):
    folder = idx_set(tmp_path / "six", 6, names=["a", "b", "c"])
    with pytest.raises(DataError, match="classes.txt gives 3 names .* have 6 classes"):
        class_names(DataSpec(name="idx", path=str(folder)))
    with pytest.raises(DataError, match="have 6 classes, Fashion-MNIST has 10"):
        class_names(DataSpec(path=str(folder)))  # named fashion-mnist, but it is not


def test_more_images_per_class_than_exist_is_refused(tmp_path, capsys):
    folder = idx_set(tmp_path / "six", 6, per_class=12)
    _, path = study_file(tmp_path, folder, extra="n_train_per_class = 100")
    out = tmp_path / "out"
    assert main(["run", str(path), "--data", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "data.n_train_per_class = 100" in err and "has only" in err and err.count("\n") == 1
    assert not out.exists()  # nothing was written


def test_image_size_is_refused_where_it_does_nothing(tmp_path):
    folder = idx_set(tmp_path / "six", 6)
    with pytest.raises(StudyError, match="data.image_size = 64 has no effect on idx"):
        study_file(tmp_path, folder, extra="image_size = 64")


def test_own_groups_can_be_a_random_split(tmp_path):
    folder = idx_set(tmp_path / "six", 6)
    groups = '[[splits]]\nname = "drawn"\nkind = "random"\nA = [0, 4, 5]\nB = [1, 2, 3]'
    assert study_file(tmp_path, folder, groups)[0].splits[0].kind == "random"
    default = '[[splits]]\nname = "mine"\nA = [0, 4, 5]\nB = [1, 2, 3]'
    assert study_file(tmp_path, folder, default)[0].splits[0].kind == "semantic"
    with pytest.raises(StudyError, match="kind = 'similar'"):
        study_file(tmp_path, folder, groups.replace('"random"', '"similar"'))


def _cut_gzip(blob: bytes) -> bytes:
    return gzip.compress(blob)[:-50]  # a download cut short


def _garble_gzip(blob: bytes) -> bytes:
    packed = bytearray(gzip.compress(blob))
    packed[20:40] = b"\xff" * 20  # the compressed data, past the 10-byte header
    return bytes(packed)


# damage: (name of the damaged file, its bytes from the good IDX bytes, what the error says)
DAMAGES = {
    "truncated gzip": (".gz", _cut_gzip, "truncated"),
    "gzip with a bad header": (".gz", lambda blob: blob, "drop '.gz'"),
    "garbled gzip": (".gz", _garble_gzip, "damaged gzip file"),
    "truncated raw IDX": ("", lambda blob: blob[:-100], "truncated or corrupt"),
}


def damaged_set(tmp_path, damage: str):
    """A six-class IDX set whose training images file is damaged as `damage` says."""
    folder = idx_set(tmp_path / "six", 6)
    suffix, spoil, _ = DAMAGES[damage]
    good = folder / "train-images-idx3-ubyte"
    blob = good.read_bytes()
    good.unlink()
    damaged = folder / ("train-images-idx3-ubyte" + suffix)
    damaged.write_bytes(spoil(blob))
    return folder, damaged


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_file_is_one_data_error_and_never_cached(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, damaged = damaged_set(tmp_path, damage)
    with pytest.raises(DataError) as error:
        load_dataset(with_fingerprint(DataSpec(name="idx", path=str(folder))))
    message = str(error.value)
    assert str(damaged) in message and DAMAGES[damage][2] in message and "\n" not in message
    assert "download (or copy) it again" in message
    cache = fingerprint.cache_file()
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    assert DAMAGES[damage][0] == "" or not any(str(damaged) in key for key in cached)


@pytest.mark.parametrize("damage", DAMAGES)
def test_run_on_a_damaged_file_exits_2_with_one_line(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, damaged = damaged_set(tmp_path, damage)
    path = tmp_path / "mine.toml"
    extra = f'path = "{folder}"'  # absolute: the test is of the file, not of where paths lead
    path.write_text(STUDY.format(splits="[[splits]]\nseed = 0", extra=extra, n_val=6))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(damaged) in err and "Traceback" not in err
    assert not out.exists()


def test_classes_txt_is_utf8_with_or_without_a_bom(tmp_path):
    names = ["ant", "bee", "cat", "dog", "eel", "élan"]
    folder = idx_set(tmp_path / "six", 6)
    (folder / "classes.txt").write_bytes("\n".join(names).encode("utf-8-sig"))
    assert class_names(DataSpec(name="idx", path=str(folder))) == tuple(names)
    (folder / "classes.txt").write_bytes("\n".join(names).encode("latin-1"))
    with pytest.raises(DataError, match=r"classes.txt: cannot read it .*; save it as UTF-8"):
        class_names(DataSpec(name="idx", path=str(folder)))
