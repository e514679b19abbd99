"""The imagenet-caffenet preset: the original recipe, its splits, on a folder of 1000 classes."""

import pytest

from featuretransfer.study.plan import plan_study
from featuretransfer.study.splits import random_split
from featuretransfer.study.studyfile import load_study, preset_path
from featuretransfer.study.studyspec import StudyError


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory):
    """An image folder with ImageNet's 1000 class folders (wnid-like names, sorted), each with
    an empty image file: planning reads the file list (class names, the fingerprint), never the
    images."""
    root = tmp_path_factory.mktemp("ilsvrc")
    for part in ("train", "val"):
        for i in range(1000):
            (root / part / f"n{i:08d}").mkdir(parents=True)
            (root / part / f"n{i:08d}" / "0.jpg").touch()
    return root


def test_the_preset_is_the_original_recipe(imagenet_like):
    study = load_study(preset_path("imagenet-caffenet"), data_path=str(imagenet_like))
    assert (study.net.name, study.net.n_outputs, study.net.init) == ("caffenet", 1000, "reference")
    train = study.train
    assert (train.lr, train.momentum, train.weight_decay, train.batch_size) == (
        0.01,
        0.9,
        5e-4,
        256,
    )
    assert (train.bias_lr_mult, train.bias_decay, train.crop, train.mirror) == (
        2.0,
        False,
        227,
        True,
    )
    assert train.best_k == 10 and study.data.image_size == 256
    assert study.data.normalize == "mean"  # Caffe's input scale: mean subtracted, 0..255 units
    # 450k iterations of 256 over a half of ImageNet (~640k images) = 180 epochs; lr x0.1 / 40
    assert train.epochs == 180 and train.lr_milestones == (40, 80, 120, 160)


def test_the_preset_plans_the_papers_splits(imagenet_like):
    study = load_study(preset_path("imagenet-caffenet"), data_path=str(imagenet_like))
    randoms = [s for s in study.splits if s.kind == "random"]
    assert randoms == [random_split(1000, seed) for seed in range(4)]
    semantic = next(s for s in study.splits if s.kind == "semantic")
    assert (len(semantic.A), len(semantic.B)) == (551, 449)
    assert not set(semantic.A) & set(semantic.B)
    natural = set(range(398)) | set(range(936, 959)) | {970} | set(range(972, 999))
    assert set(semantic.B) == natural
    jobs = plan_study(study)
    # 4 random splits: 2 bases + 2 targets x 7 cuts x 4 treatments, the random control on s0,
    # and the dissimilar split: 2 bases + 2 targets x 7 cuts x 2 treatments
    assert len(jobs) == 4 * (2 + 56) + 14 + (2 + 28)


def test_the_preset_needs_its_image_folder():
    with pytest.raises(StudyError, match="image-folder needs data.path"):
        load_study(preset_path("imagenet-caffenet"))
