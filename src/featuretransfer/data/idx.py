"""IDX data sets (the MNIST format) as an in-memory Dataset: Fashion-MNIST, found or fetched,
and any folder of the same four IDX files (`data.name = "idx"`).

A data set has as many classes as its labels say (0..C-1). Fashion-MNIST's are named by its
documentation; a user's are named by `data.class_names`, else a `classes.txt` beside the files
(one name per line, in label order), else by their index.

Fashion-MNIST is looked up in this order: an explicit folder (study file `data.path` or
`--data DIR`), `$FEATURETRANSFER_DATA`, Debian's package `dataset-fashion-mnist`
(/usr/share/datasets/fashion-mnist), the user cache (~/.cache/featuretransfer/fashion-mnist);
else it is downloaded into the cache and checked against SHA-256 sums.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

from featuretransfer.data import fingerprint
from featuretransfer.data.dataset import DataError, Dataset, cache_root, hold_out
from featuretransfer.specs import DataSpec

log = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# SHA-256 of the *uncompressed* IDX files: mirrors re-compress the .gz (Debian's differ from the
# canonical ones byte for byte), but the payload is the same everywhere.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
IDX_DTYPES = {0x08: np.uint8}  # the only element type the image data sets here use


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped), checking magic number, dimensions and size."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except fingerprint.READ_ERRORS as e:
        raise fingerprint.damaged_file_error(path, e) from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype, n_dims = raw[2], raw[3]
    if dtype not in IDX_DTYPES or not 1 <= n_dims <= 4:
        raise DataError(f"{path}: unsupported IDX element type 0x{dtype:02x} or {n_dims} dims")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{path}: IDX header says {shape} ({expected} bytes) but the file has {len(raw)} "
            f"bytes; the file is truncated or corrupt: delete it and download (or copy) it again"
        )
    return np.frombuffer(raw, dtype=IDX_DTYPES[dtype], offset=header).reshape(shape)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _has_fashion_mnist(folder: Path) -> bool:
    return all(_idx_file(folder, stem) for stem in FASHION_MNIST_FILES)


def cache_dir() -> Path:
    """Where Fashion-MNIST is downloaded to when it is found nowhere else."""
    return cache_root() / "fashion-mnist"


def find_fashion_mnist(explicit: str | None = None) -> Path:
    """The first folder that holds the four files, in the documented order."""
    if explicit is not None:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            what = "is a file" if folder.exists() else "does not exist"
            raise DataError(
                f"data folder {folder} {what}; give the folder that holds the IDX files"
            )
        if not _has_fashion_mnist(folder):
            raise DataError(
                f"data folder {folder} lacks Fashion-MNIST's IDX files "
                f"({', '.join(s + '[.gz]' for s in FASHION_MNIST_FILES)})"
            )
        return folder
    for folder in (os.environ.get("FEATURETRANSFER_DATA"), DEBIAN_DIR, cache_dir()):
        if folder and _has_fashion_mnist(Path(folder)):
            return Path(folder)
    return download_fashion_mnist(cache_dir())


def download_fashion_mnist(folder: Path, base_url: str = FASHION_MNIST_URL) -> Path:
    """Fetch the four files into `folder`, checking each payload's SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, sha256 in FASHION_MNIST_FILES.items():
        target = folder / (stem + ".gz")
        if target.is_file():
            continue
        try:
            with urllib.request.urlopen(base_url + stem + ".gz", timeout=10) as response:
                blob = response.read()
        except (urllib.error.URLError, OSError) as e:
            raise DataError(
                f"Fashion-MNIST not found and its download failed ({e}); either install "
                f"Debian's package (apt-get install dataset-fashion-mnist) or pass --data DIR "
                f"(or set FEATURETRANSFER_DATA) to a folder with the four IDX files"
            ) from e
        if hashlib.sha256(gzip.decompress(blob)).hexdigest() != sha256:
            raise DataError(f"{base_url}{stem}.gz: SHA-256 mismatch, download refused")
        tmp = target.with_suffix(".part")
        tmp.write_bytes(blob)
        os.replace(tmp, target)
    return folder


def idx_folder(spec: DataSpec) -> Path:
    """The folder of a study's IDX files: Fashion-MNIST's, found as documented, or the user's."""
    if spec.name == "fashion-mnist":
        return find_fashion_mnist(spec.path)
    if spec.path is None:
        raise DataError(
            'data.name = "idx" needs data.path (or --data) to a folder with the four IDX files '
            f"({', '.join(s + '[.gz]' for s in FASHION_MNIST_FILES)})"
        )
    folder = Path(spec.path).expanduser()
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise DataError(f"data.path {folder} {what}; give the folder that holds the IDX files")
    missing = [stem for stem in FASHION_MNIST_FILES if not _idx_file(folder, stem)]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(s + '[.gz]' for s in missing)}")
    return folder


def _labels(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    train = read_idx(_idx_file(folder, "train-labels-idx1-ubyte"))
    test = read_idx(_idx_file(folder, "t10k-labels-idx1-ubyte"))
    return train, test


def idx_classes(spec: DataSpec) -> tuple[str, ...]:
    """The class names of an IDX data set, in label order, from its labels (not its images)."""
    folder = idx_folder(spec)
    train, test = _labels(folder)
    if train.ndim != 1 or test.ndim != 1 or not len(train):
        raise DataError(f"{folder}: the label files should each hold one label per image")
    n_classes = int(max(train.max(), test.max(initial=0))) + 1
    missing = sorted(set(range(n_classes)) - set(np.unique(train).tolist()))
    if missing:
        raise DataError(
            f"{folder}: labels run 0..{n_classes - 1} but class {missing[0]} has no training "
            "image; relabel the classes as 0..C-1 with every class in the training set"
        )
    if spec.name == "fashion-mnist":
        if n_classes != len(FASHION_MNIST_CLASSES):
            raise DataError(
                f"{folder}: these IDX files have {n_classes} classes, Fashion-MNIST has 10; for a "
                'data set of your own set data.name = "idx" (and data.class_names)'
            )
        return FASHION_MNIST_CLASSES
    names, source = spec.class_names, "data.class_names"
    if not names and (folder / "classes.txt").is_file():
        try:  # utf-8-sig: a BOM (Notepad, Excel) is not part of the first name
            lines = (folder / "classes.txt").read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(
                f"{folder / 'classes.txt'}: cannot read it ({e}); save it as UTF-8 text, one "
                "class name per line"
            ) from None
        names, source = tuple(line.strip() for line in lines if line.strip()), "classes.txt"
    if not names:
        return tuple(str(c) for c in range(n_classes))
    if len(names) != n_classes or len(set(names)) != len(names):
        raise DataError(
            f"{source} gives {len(names)} names ({len(set(names))} distinct) but the labels of "
            f"{folder} have {n_classes} classes: give one distinct name per class, in label order"
        )
    return tuple(names)


def idx_fingerprint(spec: DataSpec) -> str:
    """The content of the four IDX files (their payloads' SHA-256, computed once per file)."""
    folder = idx_folder(spec)
    digests = [fingerprint.file_digest(_idx_file(folder, stem)) for stem in FASHION_MNIST_FILES]
    return fingerprint.combine("idx", digests)


def load_idx(spec: DataSpec) -> Dataset:
    folder = idx_folder(spec)
    classes = idx_classes(spec)

    def read(stem: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(_idx_file(folder, stem)).copy())

    train_x, train_y = read("train-images-idx3-ubyte"), read("train-labels-idx1-ubyte")
    test_x, test_y = read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte")
    for x, y, part in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if len(x) != len(y):
            raise DataError(f"{folder}: {part} images ({len(x)}) and labels ({len(y)}) differ")
        if x.ndim != 3:
            raise DataError(f"{folder}: {part} images should be N x H x W, got {tuple(x.shape)}")
    train_idx, val_idx = hold_out(len(train_x), spec.n_val, spec.val_seed)
    train_x = train_x.unsqueeze(1)  # [N, 1, H, W]: one grey channel
    train_y = train_y.long()
    pixels = train_x[train_idx].double()
    return Dataset(
        classes=classes,
        train_x=train_x[train_idx],
        train_y=train_y[train_idx],
        val_x=train_x[val_idx],
        val_y=train_y[val_idx],
        test_x=test_x.unsqueeze(1),
        test_y=test_y.long(),
        pixel_mean=pixels.mean().item(),
        pixel_std=pixels.std().item(),
    )
