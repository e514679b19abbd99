"""Any folder of images per class (ImageFolder layout), and ImageNet's built-in class groups.

`load_image_folder` reads ROOT/train/<class>/*.{jpg,jpeg,png} and ROOT/test/<class>/... (or
ROOT/val/<class>/...), resized on the shorter side and centre-cropped to `image_size`, into a
`data.Dataset` of uint8 [N, C, S, S] tensors: C = 1 where every image is grey (`colour_mode`),
else 3 (RGB; a grey image among colour ones is repeated to three channels). Pillow is imported
only when images are read.
`imagenet_group_split_classes` gives the original study's man-made (A) vs natural (B) split.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from featuretransfer.data import fingerprint
from featuretransfer.data.dataset import DataError, Dataset, build_dataset, cache_root
from featuretransfer.data.diskimages import IndexedImages, decode_to_disk
from featuretransfer.specs import DataSpec

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# Images from which decoding uses threads (1.6x faster on 2 cores for 500 x 375 JPEGs); below
# it, a loader of a tiny folder stays single-threaded and simple to debug.
THREADS_FROM = 2000
# Pillow's modes of grey images (1-bit, 8-bit, with alpha, 16/32-bit integer, float)
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
CHANNELS = {"RGB": 3, "L": 1}  # a folder's colour mode -> the channels of its tensors


# ---- ImageNet class groups --------------------------------------------------------------------


def _class_indices(name: str) -> list[int]:
    text = (resources.files("featuretransfer.data") / "classgroups" / name).read_text()
    return [int(line) for line in text.split()]


def imagenet_group_split_classes() -> tuple[list[int], list[int]]:
    """The paper's ILSVRC2012 split: (A = 551 man-made, B = 449 natural) class indices 0..999.

    Indices are into the standard order (sorted wnids), which is what `load_image_folder` gives
    for a folder with one subfolder per wnid.
    """
    return _class_indices("imagenet-manmade.txt"), _class_indices("imagenet-natural.txt")


# ---- folders of images ------------------------------------------------------------------------


def _class_files(split_dir: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image files, for the class folders in sorted order."""
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{split_dir}: no class folders")
    files = {}
    for folder in folders:
        images = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not images:
            raise DataError(f"{folder}: class folder without {'/'.join(IMAGE_SUFFIXES)} images")
        files[folder.name] = images
    return files


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 [3, size, size]: RGB, shorter side resized to `size`, centre-cropped."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            scale = size / min(width, height)
            new = (max(size, round(width * scale)), max(size, round(height * scale)))
            if new != image.size:
                image = image.resize(new, Image.Resampling.BILINEAR)  # antialiased when shrinking
            left, top = (new[0] - size) // 2, (new[1] - size) // 2
            image = image.crop((left, top, left + size, top + size))
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from e


def read_grey(path: Path, size: int) -> np.ndarray:
    """One grey image as uint8 [1, size, size]: channel 0 of `read_image`'s RGB, which Pillow
    fills with the grey values (so a folder decoded to disk as RGB gives the same tensors)."""
    return read_image(path, size)[:1]


def _is_grey(path: Path) -> bool:
    """Whether an image is grey, from its header alone (nothing decoded). An unreadable one
    counts as colour: the scan stops there, and decoding it names the file (`read_image`)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.mode in GREY_MODES
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


_MODES: dict[str, str] = {}  # a folder listing's digest -> its colour mode, once per process


def colour_mode(files: list[Path], listing: list[str]) -> str:
    """The mode "L" where every image of `files` is grey, else "RGB": read from the images'
    headers, stopping at the first colour one (one header for a colour folder such as
    ImageNet's, every header for a grey one: about 35 us each), once per listing and process."""
    key = fingerprint.combine(listing)
    if key not in _MODES:
        _MODES[key] = "L" if all(_is_grey(path) for path in files) else "RGB"
    return _MODES[key]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _read_images(files: list[Path], size: int, workers: int, mode: str = "RGB") -> torch.Tensor:
    # Threads, not processes: Pillow releases the GIL while decoding and resizing, and map keeps
    # the sorted file order, so the result does not depend on `workers`.
    read = read_image if mode == "RGB" else read_grey
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            images = list(pool.map(read, files, [size] * len(files)))
    else:
        images = [read(path, size) for path in files]
    if not images:
        return torch.empty(0, CHANNELS[mode], size, size, dtype=torch.uint8)
    return torch.from_numpy(np.stack(images))


def memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def image_files(spec: DataSpec) -> tuple[Path, dict[str, list[Path]], dict[str, list[Path]]]:
    """(root, train class -> files, test class -> files) of an image folder, checked: the same
    classes in train/ and test/ (else val/), each with images."""
    if spec.path is None:
        raise DataError(
            "image-folder needs data.path (or --data): the folder that holds "
            "train/<class>/ and test/<class>/ (or val/<class>/)"
        )
    root = Path(spec.path).expanduser()
    train_dir = root / "train"
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if not train_dir.is_dir():
        raise DataError(
            f"data.path {spec.path} has no train/ folder; give the folder that holds "
            "train/<class>/ and test/<class>/ (or val/<class>/)"
        )
    if test_dir is None:
        raise DataError(f"{root}: neither test/ nor val/ found; expected ROOT/test/<class>/*.jpg")
    train_files, test_files = _class_files(train_dir), _class_files(test_dir)
    for name in test_files:
        if name not in train_files:
            raise DataError(f"{test_dir / name}: class folder not in {train_dir}")
    for name in train_files:
        if name not in test_files:
            raise DataError(f"{test_dir / name}: missing; {test_dir} needs every class of train")
    return root, train_files, test_files


def _folder_mode(root: Path, train_files: dict, test_files: dict) -> tuple[str, list[str]]:
    """The folder's colour mode and its listing (every image by relative path, size, mtime)."""
    files = [p for part in (train_files, test_files) for ps in part.values() for p in ps]
    listing = fingerprint.folder_listing(root, files)
    return colour_mode(files, listing), listing


def image_folder_fingerprint(spec: DataSpec) -> str:
    """Every image by relative path, size and mtime, the class names and the colour mode
    ("L": all grey, read as 1 channel; "RGB"): only the images' headers are read (see
    data/fingerprint.py)."""
    root, train_files, test_files = image_files(spec)
    mode, listing = _folder_mode(root, train_files, test_files)
    return fingerprint.combine("image-folder", mode, list(train_files), listing)


DEFAULT_IMAGE_SIZE = 32  # pixels: the side of decoded images where data.image_size is 0


def load_image_folder(
    spec: DataSpec,
    image_size: int = DEFAULT_IMAGE_SIZE,
    workers: int | None = None,
    memory_limit: int | None = None,
) -> Dataset:
    """ROOT/train/<class>/ and ROOT/test/<class>/ (else ROOT/val/<class>/) images, decoded.

    In memory where the decoded images take at most `memory_limit` bytes (default: a quarter
    of this machine's memory); else decoded once to a memory-mapped file in the cache folder
    (`diskimages`), from which batches are read (ILSVRC2012 at 256 px: 250 GB).

    Classes are the sorted subfolder names of train; test (or val) must have the same ones. The
    validation set is held out of train (`data.n_val`); test/val serves as the test set, as the
    ILSVRC validation set did in the paper. `workers`: decoding threads, default one per core
    (at most 8) from THREADS_FROM images on.
    """
    root, train_files, test_files = image_files(spec)
    classes = tuple(train_files)
    mode = _folder_mode(root, train_files, test_files)[0]

    n_images = sum(map(len, train_files.values())) + sum(map(len, test_files.values()))
    limit = memory_bytes() // 4 if memory_limit is None else memory_limit
    on_disk = n_images * CHANNELS[mode] * image_size**2 > limit

    def read(files: dict[str, list[Path]]) -> tuple[torch.Tensor, torch.Tensor]:
        paths = [p for name in classes for p in files[name]]
        labels = torch.tensor([i for i, name in enumerate(classes) for _ in files[name]])
        n_workers = workers or (min(8, _cores()) if len(paths) >= THREADS_FROM else 1)
        if on_disk:
            log.info(
                "%s: decoding %d images to %s (once)",
                root,
                len(paths),
                cache_root() / "decoded",
            )
            images = decode_to_disk(
                paths, image_size, cache_root() / "decoded", read_image, n_workers
            )
            if mode == "L":  # decoded as RGB, whose channels all hold the grey values
                images = IndexedImages(images.array[:, :1], images.index)
            return images, labels
        return _read_images(paths, image_size, n_workers, mode), labels

    train_x, train_y = read(train_files)
    test_x, test_y = read(test_files)
    log.info(
        "%s: %d classes, %d training and %d test images at %d px, %s",
        root,
        len(classes),
        len(train_x),
        len(test_x),
        image_size,
        "grey" if mode == "L" else "RGB",
    )
    return build_dataset(classes, train_x, train_y, test_x, test_y, spec)
