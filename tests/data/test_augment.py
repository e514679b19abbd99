"""Training augmentation: random crops are slices of the zero-padded image, half mirrored, seeded
by their generator; the centre crop at evaluation; Pillow imported only when an image is read."""

import subprocess
import sys

import pytest
import torch

from featuretransfer.data.augment import augment, center_crop

# ---- augmentation -----------------------------------------------------------------------------


def coordinates(n: int, h: int, w: int) -> torch.Tensor:
    """Images whose two channels hold each pixel's row and column."""
    rows = torch.arange(h).view(h, 1).expand(h, w)
    cols = torch.arange(w).view(1, w).expand(h, w)
    return torch.stack([rows, cols]).expand(n, 2, h, w).clone()


@pytest.mark.parametrize("size, crop", [(40, 36), (64, 57), (6, 4)])
def test_augment_crops_are_slices_half_mirrored(size, crop):
    x = coordinates(64, size, size)
    out = augment(x, crop, 0, torch.Generator().manual_seed(0))
    assert out.shape == (64, 2, crop, crop)
    mirrored, tops, lefts = 0, set(), set()
    for image, source in zip(out, x):
        top, left = int(image[0, 0, 0]), int(image[1, 0].min())
        is_mirrored = bool(image[1, 0, 0] > image[1, 0, -1])
        window = source[:, top : top + crop, left : left + crop]
        assert torch.equal(image, window.flip(-1) if is_mirrored else window)
        mirrored, tops, lefts = mirrored + is_mirrored, tops | {top}, lefts | {left}
    assert 16 < mirrored < 48  # p = 0.5 of 64
    assert max(tops | lefts) <= size - crop and len(tops) > 1 and len(lefts) > 1
    if size - crop == 2:
        assert tops == lefts == {0, 1, 2}  # every offset is reached


def test_augment_pads_with_zeros_first():
    x = torch.randint(1, 256, (32, 3, 32, 32), dtype=torch.uint8)
    out = augment(x, 32, 4, torch.Generator().manual_seed(3))
    assert out.shape == (32, 3, 32, 32) and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    assert torch.equal(out, augment(padded, 32, 0, torch.Generator().manual_seed(3)))
    assert (out == 0).any()  # some windows reach into the padding


def test_augment_is_seeded_by_the_generator():
    x = torch.randint(0, 256, (16, 3, 40, 40), dtype=torch.uint8)
    one = augment(x, 32, 4, torch.Generator().manual_seed(7))
    assert torch.equal(one, augment(x, 32, 4, torch.Generator().manual_seed(7)))
    assert not torch.equal(one, augment(x, 32, 4, torch.Generator().manual_seed(8)))
    generator = torch.Generator().manual_seed(7)
    state = generator.get_state()
    first = augment(x, 32, 4, generator)
    generator.set_state(state)
    assert torch.equal(first, augment(x, 32, 4, generator))


def test_center_crop_and_bad_sizes():
    x = torch.arange(2 * 3 * 8 * 10, dtype=torch.int64).view(2, 3, 8, 10)
    assert torch.equal(center_crop(x, 4), x[..., 2:6, 3:7])
    with pytest.raises(ValueError, match="does not fit"):
        center_crop(x, 9)
    with pytest.raises(ValueError, match="does not fit"):
        augment(x, 11, 0, torch.Generator())
    assert augment(x, 10, 1, torch.Generator()).shape == (2, 3, 10, 10)


def test_pillow_is_imported_lazily():
    # data.LOADERS will import this module: without Pillow only load_image_folder may fail.
    code = "import sys, featuretransfer.data.registry; assert 'PIL' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
