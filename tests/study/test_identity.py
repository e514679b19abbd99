"""Job ids name what a net is: the data's content (not their path), the settings, the classes of
each half and the training semantics; never the study's or the split's name or kind."""

import dataclasses
import hashlib
import json
import shutil

import pytest
from conftest import fake_images, write_idx

from featuretransfer.data.registry import fingerprint
from featuretransfer.specs import (
    TRAINING_VERSION,
    DataSpec,
    JobSpec,
    NetSpec,
    SplitSpec,
    TrainSpec,
)
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study

STUDY = """name = "{name}"
[data]
name = "{data}"
n_val = 40
[study]
treatments = ["AnB"]
cuts = [2]
[[splits]]
seed = 0
"""


def ids(tmp_path, folder, name="a", data="fashion-mnist"):
    path = tmp_path / f"{name}.toml"
    path.write_text(STUDY.format(name=name, data=data))
    return [job.id for job in plan_study(load_study(path, data_path=str(folder)))]


def test_the_id_hashes_exactly_the_scientific_fields():
    spec = JobSpec(
        study="any name",
        data=DataSpec(n_val=40, fingerprint="abc", path="/anywhere"),
        net=NetSpec(),
        train=TrainSpec(precision="fp32"),
        split=SplitSpec("any split", "semantic", (0, 1), (2, 3)),
        source="A",
        target="B",
        n_copied=2,
        fine_tune=True,
        seed=3,
    )
    canonical = {  # written out by hand: what the id must depend on, and nothing else
        "data": {
            "name": "fashion-mnist",
            "n_val": 40,
            "val_seed": 0,
            "n_train_per_class": 0,
            "image_size": 0,
            "normalize": "mean-std",
            "fingerprint": "abc",
        },
        "net": {
            "name": "convnet8",
            "width": 0.5,
            "init": "kaiming",
            "dropout": 0.5,
            "n_outputs": 0,
            "units": [],
            "args": [],
            "code_sha256": "",
            "revision": "",
            "mean": [],
            "std": [],
            "keeps_input_shape": False,
        },
        "train": {
            "epochs": 8,
            "batch_size": 128,
            "lr": 0.01,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "lr_milestones": [6],
            "lr_gamma": 0.1,
            "schedule": "step",
            "warmup_epochs": 0,
            "best_k": 3,
            "bias_lr_mult": 1.0,
            "bias_decay": True,
            "crop": 0,
            "crop_pad": 0,
            "mirror": False,
            "precision": "fp32",
            "steps": 0,
        },
        "split": {"A": [0, 1], "B": [2, 3]},
        "source": "A",
        "target": "B",
        "n_copied": 2,
        "fine_tune": True,
        "seed": 3,
        "pretrained": None,
        "semantics": TRAINING_VERSION,
    }
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:12]
    assert spec.id == digest
    relabelled = dataclasses.replace(
        spec,
        study="other",
        split=SplitSpec("s9", "random", (0, 1), (2, 3)),
        data=dataclasses.replace(spec.data, class_names=("x", "y", "z", "w")),
        role="longer",
    )
    assert relabelled.id == spec.id  # names and kinds are labels of the report


def test_two_data_sets_that_differ_only_in_content_get_different_ids(tmp_path, fake_data):
    other = tmp_path / "other"
    shutil.copytree(fake_data, other)
    images, labels = fake_images(24, 0)
    images[0, 0, 0] ^= 1  # one pixel of 240 images: the same names, shapes and classes
    write_idx(other / "train-images-idx3-ubyte.gz", images)
    assert fingerprint(DataSpec(path=str(other))) != fingerprint(DataSpec(path=str(fake_data)))
    assert not set(ids(tmp_path, other)) & set(ids(tmp_path, fake_data))


def test_moving_the_data_keeps_every_id(tmp_path, fake_data):
    moved = tmp_path / "moved"
    shutil.copytree(fake_data, moved)  # same bytes elsewhere (new mtimes too)
    assert ids(tmp_path, moved, name="b") == ids(tmp_path, fake_data)


def test_the_canonical_fashion_mnist_has_the_empty_fingerprint(fake_data):
    canonical = DataSpec()
    try:
        assert fingerprint(canonical) == ""
    except Exception as e:  # noqa: BLE001 - no Fashion-MNIST on this machine
        pytest.skip(f"Fashion-MNIST not installed: {e}")
    assert fingerprint(DataSpec(path=str(fake_data))) != ""  # fake files: a fingerprint


def test_the_same_files_as_idx_or_fashion_mnist_are_other_nets(tmp_path, fake_data):
    assert not set(ids(tmp_path, fake_data, data="idx")) & set(ids(tmp_path, fake_data))


def test_image_folders_with_other_images_get_other_ids(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    def folder(root, value):
        for part in ("train", "test"):
            for c in ("cat", "dog"):
                (root / part / c).mkdir(parents=True)
                for i in range(3):
                    Image.new("RGB", (8, 8), (value, i, 0)).save(root / part / c / f"{i}.png")
        return root

    a, b = folder(tmp_path / "a", 10), folder(tmp_path / "b", 200)
    spec_a = DataSpec(name="image-folder", path=str(a))
    spec_b = DataSpec(name="image-folder", path=str(b))
    before = fingerprint(spec_a)
    assert before != fingerprint(spec_b)
    (a / "train" / "cat" / "0.png").unlink()
    Image.new("RGB", (9, 9), (1, 2, 3)).save(a / "train" / "cat" / "0.png")  # replaced
    assert fingerprint(spec_a) != before
