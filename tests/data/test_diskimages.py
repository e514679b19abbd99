"""Image folders too large for memory: decoded once to disk, read per batch, same results."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from featuretransfer.data import imagefolder, registry
from featuretransfer.data.diskimages import IndexedImages
from featuretransfer.data.imagefolder import load_image_folder
from featuretransfer.data.registry import with_fingerprint
from featuretransfer.run.job import run_job
from featuretransfer.specs import DataSpec, JobSpec, NetSpec, TrainSpec
from featuretransfer.study.splits import group_split


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """6 classes of small random PNGs (8 train, 3 test each); the cache in tmp_path."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, n in (("train", 8), ("test", 3)):
        for c in range(6):
            (tmp_path / "images" / part / f"c{c}").mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
                pixels[:, :, c % 3] = 40 * c  # learnable: a class colour
                Image.fromarray(pixels).save(tmp_path / "images" / part / f"c{c}" / f"{i}.png")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(registry, "_CACHE", {})
    return tmp_path / "images"


def test_on_disk_equals_in_memory(folder, monkeypatch):
    spec = DataSpec(name="image-folder", n_val=6, path=str(folder))
    memory = load_image_folder(spec, 16)
    disk = load_image_folder(spec, 16, memory_limit=0)
    assert isinstance(disk.train_x, IndexedImages) and disk.train_x.shape == memory.train_x.shape
    for part in ("train", "val", "test"):
        x_disk, x_memory = getattr(disk, f"{part}_x"), getattr(memory, f"{part}_x")
        idx = torch.randperm(len(x_memory))
        assert torch.equal(x_disk[idx], x_memory[idx]), part
    assert (disk.pixel_mean, disk.pixel_std) == (memory.pixel_mean, memory.pixel_std)

    decoded = []
    monkeypatch.setattr(imagefolder, "read_image", lambda p, s: decoded.append(p) or 0 / 0)
    load_image_folder(spec, 16, memory_limit=0)  # unchanged folder: nothing decoded again
    assert decoded == []
    touched = next((folder / "train" / "c0").iterdir())
    touched.touch()
    with pytest.raises(ZeroDivisionError):  # a changed folder is decoded again
        load_image_folder(spec, 16, memory_limit=0)


def test_a_study_trains_from_images_on_disk(folder, tmp_path, monkeypatch):
    data = with_fingerprint(DataSpec(name="image-folder", n_val=6, path=str(folder), image_size=16))
    base = JobSpec(
        study="disk",
        data=data,
        net=NetSpec(width=0.1),
        train=TrainSpec(
            epochs=2, batch_size=8, lr_milestones=(), crop=14, mirror=True, precision="fp32"
        ),
        split=group_split("halves", [0, 1, 2], [3, 4, 5], tuple(f"c{c}" for c in range(6))),
        source="B",
        target="B",
        n_copied=0,
        fine_tune=False,
        seed=0,
    )
    frozen = replace(base, source="B", n_copied=3, train=replace(base.train, crop=0, mirror=False))
    frozen_base = frozen.parent()
    records = {}
    for where, limit in (("memory", 1 << 40), ("disk", 0)):
        monkeypatch.setattr(imagefolder, "memory_bytes", lambda limit=limit: limit * 4)
        monkeypatch.setattr(registry, "_CACHE", {})
        out = tmp_path / where
        for job in (base, frozen_base, frozen):
            folder_ = run_job(job, out)
            records[where, job.id] = json.loads((folder_ / "record.json").read_text())
    assert isinstance(registry.load_dataset(data).train_x, IndexedImages)  # the disk run's
    for job in (base, frozen_base, frozen):
        a, b = records["memory", job.id], records["disk", job.id]
        assert a["top1"] == b["top1"] and a["history"] == b["history"], job.display_name
