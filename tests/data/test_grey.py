"""Image folders of grey images load as grey (1 channel), in memory and on disk; one colour
image makes the folder RGB; the fingerprint names the mode. A grey folder is the data of a
study whose pretrained source is an RGB ViT (its image processor's size and normalisation)."""

import json

import numpy as np
import pytest
import torch

from featuretransfer.data import fingerprint, imagefolder, registry
from featuretransfer.data.imagefolder import (
    image_folder_fingerprint,
    load_image_folder,
    read_image,
)
from featuretransfer.specs import DataSpec

pytest.importorskip("PIL")


def grey_folder(root, colour_one: bool = False):
    """2 classes of 20 x 20 PNGs: grey (mode L), or one of them RGB."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, n in (("train", 6), ("test", 2)):
        for c in ("a", "b"):
            (root / part / c).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (20, 20), dtype=np.uint8)
                pixels[:, : 10 if c == "a" else 20] //= 2  # learnable: class a is darker
                image = Image.fromarray(pixels)
                if colour_one and (part, c, i) == ("test", "b", 1):
                    image = image.convert("RGB")
                image.save(root / part / c / f"{i}.png")
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "_CACHE", {})


def test_grey_images_load_as_one_channel_in_memory_and_on_disk(tmp_path, cache):
    root = grey_folder(tmp_path / "grey")
    spec = DataSpec(name="image-folder", n_val=2, path=str(root))
    memory = load_image_folder(spec, 16)
    disk = load_image_folder(spec, 16, memory_limit=0)
    assert memory.train_x.shape == (10, 1, 16, 16) and memory.test_x.shape == (4, 1, 16, 16)
    assert disk.train_x.shape == memory.train_x.shape
    idx = torch.arange(len(memory.test_y))
    assert torch.equal(disk.test_x[idx], memory.test_x)
    first = torch.tensor(read_image(root / "test" / "a" / "0.png", 16))
    assert torch.equal(memory.test_x[0, 0], first[0])  # the grey values, as RGB's channels hold
    assert (disk.pixel_mean, disk.pixel_std) == (memory.pixel_mean, memory.pixel_std)


def test_one_colour_image_makes_the_folder_rgb_and_the_fingerprint_says_which(tmp_path, cache):
    grey = grey_folder(tmp_path / "grey")
    mixed = grey_folder(tmp_path / "mixed", colour_one=True)
    spec = DataSpec(name="image-folder", n_val=2, path=str(mixed))
    assert load_image_folder(spec, 16).train_x.shape == (10, 3, 16, 16)
    for root, mode in ((grey, "L"), (mixed, "RGB")):
        spec = DataSpec(name="image-folder", path=str(root))
        _, train, test = imagefolder.image_files(spec)
        files = [p for part in (train, test) for ps in part.values() for p in ps]
        listing = fingerprint.folder_listing(root, files)
        expected = fingerprint.combine("image-folder", mode, ["a", "b"], listing)
        assert image_folder_fingerprint(spec) == expected, mode


def test_a_grey_folder_is_the_data_of_an_rgb_vit_source(tmp_path, cache, monkeypatch):
    """The source's image processor gives the image side (32 px, where the study sets none)
    and the per-channel normalisation; the grey channel is repeated to RGB."""
    transformers = pytest.importorskip("transformers")
    from hub_cache import PROCESSOR, save_tiny_model

    from featuretransfer.run.executors import InlineExecutor
    from featuretransfer.run.job import check_models
    from featuretransfer.run.runner import run_jobs
    from featuretransfer.study.plan import plan_study
    from featuretransfer.study.studyfile import load_study

    assert transformers
    save_tiny_model(tmp_path / "vit")  # 32 px RGB, ImageNet's mean and std
    root = grey_folder(tmp_path / "grey")
    (tmp_path / "study.toml").write_text(
        f"""name = "grey"
[data]
name = "image-folder"
path = "{root}"
n_val = 2
[model]
name = "hf:vit"
[train]
epochs = 1
batch_size = 8
lr = 0.02
lr_milestones = []
best_k = 1
[study]
treatments = ["SnB"]
cuts = [2]
[source]
checkpoint = "vit"
"""
    )
    study = load_study(tmp_path / "study.toml")
    assert study.data.image_size == PROCESSOR["size"]["height"] == 32
    assert study.data.normalize == "model" and study.net.keeps_input_shape
    jobs = plan_study(study)
    check_models(jobs)
    summary = run_jobs(jobs, tmp_path / "out", InlineExecutor(), show_progress=False)
    assert not summary.failed and len(summary.trained) == 2
    record = json.loads((tmp_path / "out" / "jobs" / jobs[-1].id / "record.json").read_text())
    assert record["spec"]["net"]["mean"] == pytest.approx(PROCESSOR["image_mean"])
