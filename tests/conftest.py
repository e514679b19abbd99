"""Tiny fixtures: a fake Fashion-MNIST (10 classes x 24 images, real IDX files), a tiny study as
a spec (tiny_study) and as a study file (tiny_study_text)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from featuretransfer.data.registry import with_fingerprint
from featuretransfer.specs import DataSpec, NetSpec, TrainSpec
from featuretransfer.study.splits import random_split
from featuretransfer.study.studyspec import StudySpec

torch.use_deterministic_algorithms(True)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    blob = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.suffix == ".gz" else blob)


def tiny_study_text(
    name: str = "tiny",
    data: Path | str | None = None,
    epochs: int = 1,
    batch_size: int = 16,
    treatments: tuple[str, ...] = ("BnB", "AnB"),
    cuts: tuple[int, ...] = (2,),
    data_keys: str = "",
    train_keys: str = "",
    extra: str = "",
) -> str:
    """The study file of a tiny study on the fake data: a 0.1-width reference net, 40 validation
    images, `epochs` epochs with a constant rate, the `treatments` at the `cuts` towards B.
    `data_keys` and `train_keys` add lines to [data] and [train]; `extra` adds sections."""
    path = f'path = "{data}"\n' if data is not None else ""
    listed = ", ".join(f'"{t}"' for t in treatments)
    return (
        f'name = "{name}"\n[data]\nn_val = 40\n{path}{data_keys}'
        f"[model]\nwidth = 0.1\n"
        f"[train]\nepochs = {epochs}\nbatch_size = {batch_size}\nlr_milestones = []\nbest_k = 1\n"
        f"{train_keys}"
        f"[study]\ntreatments = [{listed}]\ncuts = {list(cuts)}\n{extra}"
    )


def tiny_hf_config(family: str, num_labels: int):
    """A Hugging Face config of a tiny model of `family` (vit, resnet, convnext) for 28 px grey
    images: small enough to build, save and train in a test."""
    import transformers

    if family == "vit":
        return transformers.ViTConfig(
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=28,
            patch_size=7,
            num_channels=1,
            num_labels=num_labels,
        )
    if family == "resnet":
        return transformers.ResNetConfig(
            num_channels=1,
            embedding_size=8,
            hidden_sizes=[8, 16],
            depths=[1, 1],
            num_labels=num_labels,
        )
    return transformers.ConvNextConfig(
        num_channels=1, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, num_labels=num_labels
    )


@pytest.fixture(scope="session")
def hf_folders(tmp_path_factory):
    """Each family's tiny Hugging Face model (vit, resnet, convnext) with random weights, saved
    as a hub folder would be: ROOT/<family>."""
    transformers = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("hf")
    for family in ("vit", "resnet", "convnext"):
        torch.manual_seed(0)
        model = transformers.AutoModelForImageClassification.from_config(tiny_hf_config(family, 10))
        model.save_pretrained(root / family)
    return root


def fake_images(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable images: class c lights up a band at row 2c, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 * c + 4 : 2 * c + 7, 4:24] += 180
    return images.astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fashion-mnist")
    for part, n, seed in (("train", 24, 0), ("t10k", 8, 1)):
        images, labels = fake_images(n, seed)
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture(scope="session")
def other_data(tmp_path_factory):
    """Another data set of the same shape: class c lights a column band, not a row band."""
    folder = tmp_path_factory.mktemp("other")
    rng = np.random.default_rng(7)
    for part, n in (("train", 24), ("t10k", 8)):
        labels = np.repeat(np.arange(10), n)
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(len(labels), 28, 28))
        for i, c in enumerate(labels):
            images[i, 4:24, 2 * c + 4 : 2 * c + 7] += 180
        write_idx(folder / f"{part}-images-idx3-ubyte.gz", images.astype(np.uint8))
        write_idx(folder / f"{part}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return folder


@pytest.fixture
def tiny_study(fake_data) -> StudySpec:
    """2 cuts x 5 treatments on one split: 12 nets of a 0.1-width net, 2 epochs each."""
    return StudySpec(
        name="tiny",
        description="tests",
        data=with_fingerprint(DataSpec(n_val=40, path=str(fake_data))),
        net=NetSpec(width=0.1),
        train=TrainSpec(
            epochs=2, batch_size=32, lr=0.02, lr_milestones=(1,), best_k=2, precision="fp32"
        ),
        splits=(random_split(10, 0),),
        treatments=("BnB", "BnB+", "AnB", "AnB+", "random"),
        cuts=(2, 5),
        targets=("B",),
        seeds=(0,),
    )


@pytest.fixture
def tiny_job(tiny_study):
    from featuretransfer.study.plan import plan_study

    jobs = plan_study(tiny_study)
    return {job.display_name.split(":")[1].split("#")[0]: job for job in jobs}
