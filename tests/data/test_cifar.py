"""CIFAR-10 and CIFAR-100 loaders on tiny fake files: layouts, pickles (a planted one refused),
bad batches, the published superclasses and the man-made vs natural splits."""

import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from featuretransfer.data.cifar import (
    CIFAR10_CLASSES,
    CIFAR100_COARSE,
    CIFAR100_FINE_CLASSES,
    CIFAR100_SUPERCLASS_MEMBERS,
    CIFAR100_SUPERCLASSES,
    cifar10_group_split_classes,
    cifar100_group_split_classes,
    load_cifar10,
    load_cifar100,
    read_cifar_pickle,
)
from featuretransfer.data.dataset import DataError, hold_out
from featuretransfer.specs import DataSpec
from featuretransfer.study.splits import group_split

# Fine -> coarse as widely published (e.g. github.com/ryanchankh/cifar100coarse): an encoding
# independent of the superclass member lists in imagedata.
PUBLISHED_COARSE = [
    4,
    1,
    14,
    8,
    0,
    6,
    7,
    7,
    18,
    3,
    3,
    14,
    9,
    18,
    7,
    11,
    3,
    9,
    7,
    11,
    6,
    11,
    5,
    10,
    7,
    6,
    13,
    15,
    3,
    15,
    0,
    11,
    1,
    10,
    12,
    14,
    16,
    9,
    11,
    5,
    5,
    19,
    8,
    8,
    15,
    13,
    14,
    17,
    18,
    10,
    16,
    4,
    17,
    4,
    2,
    0,
    17,
    4,
    18,
    17,
    10,
    3,
    2,
    12,
    12,
    16,
    12,
    1,
    9,
    19,
    2,
    10,
    0,
    1,
    16,
    12,
    9,
    13,
    15,
    13,
    16,
    19,
    2,
    4,
    6,
    19,
    5,
    5,
    8,
    19,
    18,
    1,
    2,
    15,
    6,
    0,
    17,
    8,
    14,
    13,
]


# ---- writing fake CIFAR files -----------------------------------------------------------------


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 str (BINSTRING), as the official files (cPickle, protocol 2) do."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_pickle(path: Path, obj, protocol="py2") -> None:
    if protocol != "py2":
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        return
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    # The official files name numpy's old module, as numpy 1.x did.
    blob = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    path.write_bytes(blob)


def cifar_images(labels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)


def make_cifar10(root: Path, protocol="py2", per_class: int = 1) -> Path:
    """5 training batches and a test batch of `per_class` images per class."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [n.encode() for n in CIFAR10_CLASSES]
    write_pickle(folder / "batches.meta", {b"label_names": names, b"num_vis": 3072}, protocol)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        labels = np.tile(np.arange(10), per_class)
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": labels.tolist(),
            b"data": cifar_images(labels, seed=i),
            b"filenames": [f"{i}_{j}.png".encode() for j in range(len(labels))],
        }
        write_pickle(folder / name, batch, protocol)
    return folder


def make_cifar100(root: Path, coarse=PUBLISHED_COARSE) -> Path:
    """2 training and 1 test image per fine class, superclasses as given."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    meta = {
        b"fine_label_names": [n.encode() for n in CIFAR100_FINE_CLASSES],
        b"coarse_label_names": [n.encode() for n in CIFAR100_SUPERCLASSES],
    }
    write_pickle(folder / "meta", meta)
    for name, n, seed in (("train", 2, 0), ("test", 1, 1)):
        fine = np.tile(np.arange(100), n)
        batch = {
            b"fine_labels": fine.tolist(),
            b"coarse_labels": [coarse[f] for f in fine],
            b"data": cifar_images(fine, seed),
        }
        write_pickle(folder / name, batch)
    return folder


@pytest.fixture(scope="module")
def cifar10_dir(tmp_path_factory) -> Path:
    return make_cifar10(tmp_path_factory.mktemp("cifar10"), per_class=2)


@pytest.fixture(scope="module")
def cifar100_dir(tmp_path_factory) -> Path:
    return make_cifar100(tmp_path_factory.mktemp("cifar100"))


# ---- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_shapes_labels_and_hold_out(cifar10_dir):
    dataset = load_cifar10(DataSpec(name="cifar10", n_val=30, path=str(cifar10_dir)))
    assert dataset.classes == CIFAR10_CLASSES
    assert dataset.train_x.dtype == torch.uint8 and dataset.train_x.shape == (70, 3, 32, 32)
    assert dataset.val_x.shape == (30, 3, 32, 32) and dataset.test_x.shape == (20, 3, 32, 32)
    assert dataset.train_y.dtype == torch.int64 and len(dataset.train_y) == 70
    assert torch.equal(dataset.test_y, torch.arange(10).repeat(2))
    # The images are the files' rows in file order, reshaped channel-major, then held out.
    rows = [read_cifar_pickle(cifar10_dir / f"data_batch_{k}")["data"] for k in range(1, 6)]
    full = torch.from_numpy(np.concatenate(rows)).reshape(100, 3, 32, 32)
    train_idx, val_idx = hold_out(100, 30, seed=0)
    assert torch.equal(dataset.train_x, full[train_idx])
    assert torch.equal(dataset.val_x, full[val_idx])
    pixels = full[train_idx].double()
    assert dataset.pixel_mean == pytest.approx(pixels.mean().item())
    assert dataset.pixel_std == pytest.approx(pixels.std().item())


def test_cifar10_channel_major_layout(tmp_path):
    folder = make_cifar10(tmp_path)
    batch = read_cifar_pickle(folder / "test_batch")
    batch["data"][0] = np.repeat(np.array([10, 20, 30], dtype=np.uint8), 1024)  # R, G, B planes
    write_pickle(folder / "test_batch", {k.encode(): v for k, v in batch.items()})
    dataset = load_cifar10(DataSpec(name="cifar10", n_val=5, path=str(folder)))
    assert [int(dataset.test_x[0, c].unique()) for c in range(3)] == [10, 20, 30]


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10_python3_pickles_and_parent_folder(tmp_path, protocol):
    make_cifar10(tmp_path, protocol=protocol)
    dataset = load_cifar10(DataSpec(name="cifar10", n_val=10, path=str(tmp_path)))  # the parent
    assert dataset.train_x.shape == (40, 3, 32, 32) and len(dataset.test_y) == 10


class Planted:
    """Unpickles as os.system(command): what a plain pickle.load would run."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class PlantedEval:
    def __reduce__(self):
        return eval, ("1 + 1",)


def test_planted_pickle_is_refused_and_never_runs(tmp_path):
    folder = make_cifar10(tmp_path)
    marker = tmp_path / "ran"
    write_pickle(folder / "data_batch_3", {b"data": Planted(f"touch {marker}"), b"labels": []}, 2)
    with pytest.raises(DataError, match=rf"data_batch_3.*refused.*{os.system.__module__}\.system"):
        load_cifar10(DataSpec(name="cifar10", n_val=5, path=str(folder)))
    assert not marker.exists()
    write_pickle(folder / "data_batch_3", [PlantedEval()], 4)
    with pytest.raises(DataError, match=r"data_batch_3.*refused.*builtins\.eval"):
        read_cifar_pickle(folder / "data_batch_3")


def test_codecs_global_allows_latin1_only(tmp_path):
    path = tmp_path / "p"
    path.write_bytes(
        b"\x80\x02c_codecs\nencode\nq\x00X\x03\x00\x00\x00abcq\x01X\x06\x00\x00\x00base64q\x02"
        b"\x86q\x03Rq\x04."
    )  # _codecs.encode("abc", "base64") at protocol 2
    with pytest.raises(DataError, match="base64"):
        read_cifar_pickle(path)


def rewrite(folder: Path, name: str, **changes) -> None:
    batch = read_cifar_pickle(folder / name)
    batch.update(changes)
    write_pickle(folder / name, {k.encode(): v for k, v in batch.items()})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"data": np.zeros((10, 3000), dtype=np.uint8)}, "shape .*3072"),
        ({"data": np.zeros((10, 3072), dtype=np.float32)}, "not a uint8 array"),
        ({"data": [0] * 10}, "not a uint8 array"),
        ({"labels": list(range(9))}, "10 images but 'labels'"),
        ({"labels": [0] * 9 + [10]}, r"outside 0\.\.9"),
        ({"labels": [0.5] * 10}, "integer labels"),
    ],
)
def test_bad_cifar_batches_name_the_file(tmp_path, changes, message):
    folder = make_cifar10(tmp_path)
    rewrite(folder, "data_batch_2", **changes)
    with pytest.raises(DataError, match=rf"data_batch_2: .*{message}"):
        load_cifar10(DataSpec(name="cifar10", n_val=5, path=str(folder)))


def test_corrupt_missing_and_unset_cifar_files(tmp_path):
    folder = make_cifar10(tmp_path)
    spec = DataSpec(name="cifar10", n_val=5, path=str(folder))
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:-200])
    with pytest.raises(DataError, match="test_batch: cannot read CIFAR pickle"):
        load_cifar10(spec)
    write_pickle(folder / "test_batch", [1, 2])
    with pytest.raises(DataError, match="test_batch: expected a pickled dict"):
        load_cifar10(spec)
    write_pickle(folder / "batches.meta", {b"names": []})
    with pytest.raises(DataError, match="batches.meta: no list of class names"):
        load_cifar10(spec)
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataError, match="missing data_batch_5"):
        load_cifar10(spec)
    with pytest.raises(DataError, match="data.path"):
        load_cifar10(DataSpec(name="cifar10"))


# ---- CIFAR-100 --------------------------------------------------------------------------------


def test_cifar100_loads_fine_classes(cifar100_dir):
    dataset = load_cifar100(DataSpec(name="cifar100", n_val=50, path=str(cifar100_dir.parent)))
    assert dataset.classes == CIFAR100_FINE_CLASSES
    assert dataset.train_x.shape == (150, 3, 32, 32) and dataset.test_x.shape == (100, 3, 32, 32)
    assert torch.equal(dataset.test_y, torch.arange(100))


def test_cifar100_wrong_superclass_is_refused(tmp_path):
    coarse = list(PUBLISHED_COARSE)
    coarse[CIFAR100_FINE_CLASSES.index("baby")] = CIFAR100_SUPERCLASSES.index("vehicles_1")
    folder = make_cifar100(tmp_path, coarse=coarse)
    with pytest.raises(DataError, match="train: fine class baby is filed under superclass 18"):
        load_cifar100(DataSpec(name="cifar100", n_val=50, path=str(folder)))


def test_cifar100_constants_match_the_published_mapping():
    assert len(set(CIFAR100_FINE_CLASSES)) == 100 and list(CIFAR100_FINE_CLASSES[:10]) == [
        "apple",
        "aquarium_fish",
        "baby",
        "bear",
        "beaver",
        "bed",
        "bee",
        "beetle",
        "bicycle",
        "bottle",
    ]
    assert len(CIFAR100_SUPERCLASSES) == 20 == len(CIFAR100_SUPERCLASS_MEMBERS)
    assert all(len(members) == 5 for members in CIFAR100_SUPERCLASS_MEMBERS.values())
    assert list(CIFAR100_COARSE) == PUBLISHED_COARSE


def test_cifar_man_made_vs_natural_splits():
    a, b = cifar100_group_split_classes()
    assert len(a) == 30 and len(b) == 70 and not set(a) & set(b)
    assert set(a) | set(b) == set(CIFAR100_FINE_CLASSES)
    assert {"bicycle", "bottle", "road", "keyboard", "couch"} <= set(a)
    assert {"baby", "apple", "cloud", "maple_tree", "whale"} <= set(b)  # people are natural
    split = group_split("man-made-vs-natural", a, b, CIFAR100_FINE_CLASSES)
    assert sorted(split.A + split.B) == list(range(100))
    a10, b10 = cifar10_group_split_classes()
    assert a10 == ["airplane", "automobile", "ship", "truck"] and len(b10) == 6
