"""What a data set *is*, as a short hash of its content: the part of a job id that names the data.

A job id must not depend on where the data lie (moving a folder keeps every finished net), but
it must change when the data change: two folders with the same file names and class count are
not the same data set. So the id holds a fingerprint of the content:

- files read whole (IDX, CIFAR batches): the SHA-256 of each file's payload (a .gz is hashed
  uncompressed, so a mirror's re-compression is the same data), computed once per file and
  cached by path, size and mtime in CACHE/featuretransfer/fingerprints.json;
- image folders (ImageNet has 1.3M files, too many to read on every plan): each image's path
  relative to the root, size and mtime, the class names, and the colour mode the reader uses.

`combine` turns the parts into 16 hex digits.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import zlib
from pathlib import Path

from featuretransfer.data.dataset import DataError, cache_root

# What reading a damaged or unreadable file raises: OSError (missing, no permission, a bad gzip
# header or CRC), EOFError (a .gz cut short), zlib.error (a .gz with garbled compressed data).
READ_ERRORS = (OSError, EOFError, zlib.error)


def cache_file() -> Path:
    return cache_root() / "fingerprints.json"


def _read_cache() -> dict:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):  # absent, or written by hand: computed again
        return {}


def _write_cache(cache: dict) -> None:
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a name of its own: several workers may write at once; the last whole file wins
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fingerprints-")
        with os.fdopen(fd, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, path)
    except OSError:  # a read-only home: the digest is only computed again next time
        pass


def damaged_file_error(path: Path, error: BaseException) -> DataError:
    """The one-line DataError for a data file that could not be read: which file, what is wrong
    with it and what to do."""
    again = "delete it and download (or copy) it again"
    if isinstance(error, EOFError):
        return DataError(f"{path}: truncated (the compressed data end early); {again}")
    if isinstance(error, gzip.BadGzipFile | zlib.error):
        if str(error).startswith("Not a gzipped file"):
            again = f"if it is not compressed, drop '.gz' from its name; else {again}"
        return DataError(f"{path}: damaged gzip file ({error}); {again}")
    if isinstance(error, PermissionError):
        fix = "make it readable (chmod a+r) or replace it"
        return DataError(f"{path}: cannot read it (permission denied); {fix}")
    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    return DataError(f"{path}: cannot read it ({reason}); replace it with a good copy")


def _payload_sha256(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except READ_ERRORS as e:
        raise damaged_file_error(path, e) from e


def file_digest(path: Path) -> str:
    """SHA-256 of a file's payload (of the uncompressed bytes for .gz), cached by path, size and
    mtime, so an unchanged file is hashed once. Raises DataError naming a damaged or unreadable
    file, whose digest is never cached."""
    path = Path(path).resolve()
    try:
        stat = path.stat()
    except OSError as e:
        raise damaged_file_error(path, e) from e
    key = f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}"
    cache = _read_cache()
    if key not in cache:
        cache[key] = _payload_sha256(path)  # raises first for a damaged file: nothing cached
        _write_cache(cache)
    return cache[key]


def folder_listing(root: Path, files: list[Path]) -> list[str]:
    """Each file as 'relative path, size, mtime': changes when any image is added, removed,
    replaced or touched, without reading the images."""
    lines = []
    for path in files:
        stat = path.stat()
        lines.append(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return lines


def combine(*parts) -> str:
    """16 hex digits of the SHA-256 of the parts (strings or lists of strings), in order."""
    digest = hashlib.sha256()
    for part in parts:
        for line in [part] if isinstance(part, str) else part:
            digest.update(line.encode() + b"\n")
        digest.update(b"\x1e")  # between parts: ("ab", "c") and ("a", "bc") differ
    return digest.hexdigest()[:16]
