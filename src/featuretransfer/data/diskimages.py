"""Decoded images that do not fit in memory: a uint8 file on disk, memory-mapped, read per batch.

ILSVRC2012 at 256 x 256 is 1.28M x 196 KB = 250 GB decoded, more than a GPU server's memory.
`decode_to_disk` decodes an image folder once (threads: Pillow releases the GIL) into
CACHE/<key>/images.npy, keyed by the file list, sizes, mtimes and image size, so a changed folder
is decoded again and an unchanged one never is. `IndexedImages` is a lazy row selection of that
file that batches index like a tensor: the page cache keeps what fits in memory, the disk serves
the rest. Smaller data sets stay in memory as plain tensors (`load_image_folder` decides).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

CHUNK = 512  # images decoded and written per step: bounded memory (512 x 196 KB = 100 MB)


class IndexedImages:
    """Rows `index` of a memory-mapped uint8 array [N, C, H, W]; `x[idx]` reads those rows."""

    dtype = torch.uint8
    device = torch.device("cpu")

    def __init__(self, array: np.ndarray, index: torch.Tensor):
        self.array, self.index = array, index

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.index), *self.array.shape[1:]))

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        rows = self.index[idx].numpy()
        order = np.argsort(rows, kind="stable")  # ascending offsets: sequential disk reads
        batch = np.empty((len(rows), *self.array.shape[1:]), dtype=np.uint8)
        batch[order] = self.array[rows[order]]
        return torch.from_numpy(batch)

    def take(self, idx: torch.Tensor) -> IndexedImages:
        """A selection of these rows (a mask or indices), still on disk."""
        return IndexedImages(self.array, self.index[idx])

    def sample(self, n: int) -> torch.Tensor:
        """n rows spread evenly over the selection, in memory (for pixel statistics)."""
        idx = torch.linspace(0, len(self) - 1, min(n, len(self))).long()
        return self[idx]


def take(x: torch.Tensor | IndexedImages, idx: torch.Tensor) -> torch.Tensor | IndexedImages:
    """x[idx] for images in memory, a lazy selection for images on disk."""
    return x.take(idx) if isinstance(x, IndexedImages) else x[idx]


def folder_key(files: list[Path], size: int) -> str:
    """Changes when any file is added, removed, resized or touched, or the image size changes."""
    digest = hashlib.sha256(str(size).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def decode_to_disk(
    files: list[Path],
    size: int,
    cache: Path,
    read_image: Callable[[Path, int], np.ndarray],
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> IndexedImages:
    """All `files` decoded to uint8 [N, 3, size, size] in cache/<key>/images.npy, once."""
    folder = Path(cache) / folder_key(files, size)
    shape = (len(files), 3, size, size)
    done = folder / "done.json"
    if not done.is_file() or json.loads(done.read_text()).get("shape") != list(shape):
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / "images.npy.tmp"
        array = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        with ThreadPoolExecutor(workers) as pool:
            for start in range(0, len(files), CHUNK):
                chunk = files[start : start + CHUNK]
                array[start : start + len(chunk)] = np.stack(
                    list(pool.map(read_image, chunk, [size] * len(chunk)))
                )
                if progress:
                    progress(start + len(chunk), len(files))
        array.flush()
        del array
        os.replace(partial, folder / "images.npy")  # complete, or absent: never half written
        done.write_text(json.dumps({"shape": list(shape), "files": len(files)}))
    array = np.load(folder / "images.npy", mmap_mode="r")
    return IndexedImages(array, torch.arange(len(files)))
