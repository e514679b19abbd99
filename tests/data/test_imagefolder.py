"""Image folders on tiny fake images (resizing, threads, errors), the ImageNet class groups of
the paper's split, and the exact pixel statistics every colour data set is scaled by."""

from pathlib import Path

import numpy as np
import pytest
import torch

from featuretransfer.data.dataset import DataError, pixel_stats
from featuretransfer.data.imagefolder import imagenet_group_split_classes, load_image_folder
from featuretransfer.specs import DataSpec

SHARED_IMAGENET = Path("/work/shared/data/imagenet")


# ---- ImageNet class groups --------------------------------------------------------------------


def test_imagenet_groups_are_the_papers_split():
    manmade, natural = imagenet_group_split_classes()
    assert len(manmade) == 551 and len(natural) == 449
    assert not set(manmade) & set(natural) and set(manmade) | set(natural) == set(range(1000))
    ranges = [*range(0, 398), *range(936, 959), 970, *range(972, 999)]
    assert natural == ranges


@pytest.mark.skipif(not SHARED_IMAGENET.is_dir(), reason="no shared copy of the class lists")
def test_imagenet_groups_equal_the_shared_files():
    manmade, natural = imagenet_group_split_classes()
    read = lambda name: [int(v) for v in (SHARED_IMAGENET / name).read_text().split()]  # noqa: E731
    assert manmade == read("manmade_classes.txt") and natural == read("natural_classes.txt")


# ---- image folders ----------------------------------------------------------------------------

COLOURS = {"cat": (200, 30, 30), "dog": (30, 200, 30), "emu": (30, 30, 200)}


def solid(size: tuple[int, int], colour, mode="RGB"):
    from PIL import Image

    return Image.new("RGB", size, colour).convert(mode)


def make_image_folder(root: Path, test_name="test") -> Path:
    """3 classes: train 4 images each (PNG, JPEG, grey, odd sizes), test 2 each."""
    for part, n in (("train", 4), (test_name, 2)):
        for name, colour in COLOURS.items():
            folder = root / part / name
            folder.mkdir(parents=True)
            for i in range(n):
                size = [(40, 24), (24, 40), (32, 32), (50, 50)][i]
                image = solid(size, colour, mode="P" if i == 1 else "RGB")
                image.save(folder / f"{i}.png")
            solid((30, 20), colour).save(folder / "x.JPG", quality=95)
            (folder / "notes.txt").write_text("not an image")
    (root / "train" / ".hidden").mkdir()
    return root


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("images"))


def test_image_folder_shapes_labels_and_colours(image_dir):
    dataset = load_image_folder(DataSpec(name="image-folder", n_val=3, path=str(image_dir)), 16)
    assert dataset.classes == ("cat", "dog", "emu")
    assert dataset.train_x.dtype == torch.uint8 and dataset.train_x.shape == (12, 3, 16, 16)
    assert dataset.val_x.shape == (3, 3, 16, 16) and dataset.test_x.shape == (9, 3, 16, 16)
    assert torch.equal(dataset.test_y, torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]))
    for x, y in zip(dataset.test_x, dataset.test_y):
        colour = torch.tensor(COLOURS[dataset.classes[y]], dtype=torch.float32)
        assert (x.float().mean((1, 2)) - colour).abs().max() < 4  # the JPEG is lossy


def test_image_folder_resizes_the_short_side_and_crops_the_centre(tmp_path):
    from PIL import Image

    stripes = np.zeros((32, 64, 3), dtype=np.uint8)
    stripes[:, :16], stripes[:, 16:48], stripes[:, 48:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    for part in ("train", "val"):
        (tmp_path / part / "a").mkdir(parents=True)
        Image.fromarray(stripes).save(tmp_path / part / "a" / "0.png")
        Image.fromarray(stripes).save(tmp_path / part / "a" / "1.png")
    dataset = load_image_folder(DataSpec(n_val=1, path=str(tmp_path)), image_size=16)
    # 64 x 32 -> 32 x 16, centre 16 columns = the green middle half; edges blend a little.
    centre = dataset.test_x[0, :, :, 2:-2]
    assert torch.equal(centre[1], torch.full_like(centre[1], 255))
    assert centre[0].max() == 0 and centre[2].max() == 0


def test_image_folder_threads_give_the_same_tensors(image_dir):
    spec = DataSpec(name="image-folder", n_val=3, path=str(image_dir))
    serial = load_image_folder(spec, 16, workers=1)
    threaded = load_image_folder(spec, 16, workers=3)
    assert torch.equal(serial.train_x, threaded.train_x)
    assert torch.equal(serial.test_x, threaded.test_x)


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    root = make_image_folder(tmp_path / "a", test_name="val")
    spec = DataSpec(n_val=3, path=str(root))
    (root / "val" / "yak").mkdir()
    with pytest.raises(DataError, match=r"val/yak: class folder without"):
        load_image_folder(spec)
    solid((8, 8), (0, 0, 0)).save(root / "val" / "yak" / "0.png")
    with pytest.raises(DataError, match=r"val/yak: class folder not in .*train"):
        load_image_folder(spec)
    (root / "val" / "yak" / "0.png").unlink()
    (root / "val" / "yak").rmdir()
    for path in (root / "val" / "emu").iterdir():
        path.unlink()
    (root / "val" / "emu").rmdir()
    with pytest.raises(DataError, match=r"val/emu: missing"):
        load_image_folder(spec)
    bad = make_image_folder(tmp_path / "b")
    (bad / "train" / "dog" / "2.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"train/dog/2.png: cannot read image"):
        load_image_folder(DataSpec(n_val=3, path=str(bad)))
    (bad / "test").rename(bad / "holdout")
    with pytest.raises(DataError, match="neither test/ nor val/"):
        load_image_folder(DataSpec(n_val=3, path=str(bad)))
    with pytest.raises(DataError, match="has no train/ folder"):
        load_image_folder(DataSpec(n_val=3, path=str(tmp_path / "none")))


def test_pixel_stats_match_float64():
    x = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = pixel_stats(x)
    assert mean == pytest.approx(x.double().mean().item(), rel=1e-12)
    assert std == pytest.approx(x.double().std().item(), rel=1e-12)
