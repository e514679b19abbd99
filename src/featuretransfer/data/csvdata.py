"""Images listed in CSV files, with their labels (`data.name = "csv"`).

`data.path` is one of two layouts:

    labels.csv              one file for every split: columns path, label, split
    DIR/train.csv           one file per split, as an image folder holds train/ and test/
    DIR/test.csv            (else DIR/val.csv); columns path, label (`--data DIR` gives DIR)

Each file starts with a header row; other columns are ignored, names are matched without case.
`path` is an image file relative to its CSV's folder (or absolute). `label` is a class name, or
a class index 0..C-1 where every label is a whole number (the classes are then named "0", "1",
...); names are sorted into label order, as image-folder sorts its class folders. `split` says
train, test or val. The test set is the test rows, else the val rows (ILSVRC's validation set
served as the paper's test set); the validation set is held out of train (`data.n_val`), so val
rows beside test rows are not used (a warning says so). Every class needs training and test
rows; each image has one row. Errors name the CSV file and line.

Images are decoded by image-folder's reader (imagefolder.py): RGB, the shorter side resized to
`data.image_size` (default 32) and centre-cropped. The fingerprint (fingerprint.py) is each CSV
file's content hash and each image's path, size and mtime: no image is read.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from featuretransfer.data import fingerprint
from featuretransfer.data.dataset import DataError, Dataset, build_dataset, cache_root
from featuretransfer.data.diskimages import decode_to_disk
from featuretransfer.data.imagefolder import (
    DEFAULT_IMAGE_SIZE,
    THREADS_FROM,
    _cores,
    _read_images,
    memory_bytes,
    read_image,
)
from featuretransfer.specs import DataSpec

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "val")
INDEX = re.compile(r"[+-]?\d+")  # a label that is a class index


@dataclass(frozen=True)
class Row:
    """One image of a CSV file: the file as written and as found, its label, where it is."""

    text: str  # the path as the CSV writes it (location-independent: the fingerprint's)
    image: Path  # resolved against the CSV's folder
    label: str
    split: str
    where: str  # "FILE, line N", for errors


@dataclass(frozen=True)
class Table:
    """The checked rows of a CSV data set."""

    classes: tuple[str, ...]
    train: list[tuple[Row, int]]  # (row, class index), in the CSV's order
    test: list[tuple[Row, int]]
    files: tuple[tuple[str, Path], ...]  # (role, CSV file): what the rows were read from


def csv_files(spec: DataSpec) -> tuple[tuple[str, Path], ...]:
    """(role, file) of each CSV the data set reads: ("all", FILE) for a file with a split
    column, else ("train", DIR/train.csv) and ("test", DIR/test.csv or DIR/val.csv)."""
    if spec.path is None:
        raise DataError(
            "csv needs data.path: a CSV file of path,label,split rows, or the folder that holds "
            "train.csv and test.csv (or val.csv)"
        )
    path = Path(spec.path).expanduser()
    if path.is_file():
        return (("all", path),)
    if not path.is_dir():
        raise DataError(
            f"data.path {spec.path} does not exist; give a CSV file of path,label,split rows, "
            "or the folder that holds train.csv and test.csv (or val.csv)"
        )
    train = path / "train.csv"
    test = next((path / n for n in ("test.csv", "val.csv") if (path / n).is_file()), None)
    if not train.is_file() or test is None:
        lacks = "train.csv" if not train.is_file() else "test.csv (or val.csv)"
        raise DataError(
            f"{path}: no {lacks}; the folder of a csv data set holds train.csv and test.csv "
            "(or val.csv), else give one CSV file with a split column as data.path"
        )
    return (("train", train), ("test", test))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise fingerprint.damaged_file_error(path, e) from e
    try:
        return raw.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: byte 0x{raw[e.start]:02x} is not UTF-8; save the file as UTF-8 "
            '(in Excel: Save As > "CSV UTF-8")'
        ) from None


def _read_rows(path: Path, role: str) -> list[Row]:
    """The rows of one CSV file; `role` "all" reads each row's split from its split column."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    try:
        header = [name.strip().lower() for name in reader.fieldnames or ()]
    except csv.Error as e:
        raise DataError(f"{path}, line 1: {e}") from None
    needed = ("path", "label", "split") if role == "all" else ("path", "label")
    if missing := [name for name in needed if name not in header]:
        hint = (
            "; a file without a split column goes in a folder as train.csv beside test.csv, "
            "and data.path names the folder"
            if missing == ["split"]
            else ""
        )
        raise DataError(
            f"{path}: the header row (line 1) lacks {', '.join(missing)} "
            f"(it has {', '.join(header) or 'nothing'}); columns: {', '.join(needed)}{hint}"
        )
    reader.fieldnames = header
    rows = []
    try:
        for raw in reader:
            where = f"{path}, line {reader.line_num}"
            if None in raw:
                raise DataError(f"{where}: more fields than the header has columns")
            value = {k: (v or "").strip() for k, v in raw.items()}
            if not value["path"]:
                raise DataError(f"{where}: empty path")
            if not value["label"]:
                raise DataError(f"{where}: empty label")
            split = value["split"].lower() if role == "all" else role
            if split not in SPLITS:
                raise DataError(f"{where}: split {value['split']!r} should be train, test or val")
            image = Path(os.path.normpath(path.parent / Path(value["path"]).expanduser()))
            rows.append(Row(value["path"], image, value["label"], split, where))
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: {e}") from None
    return rows


def _classes(rows: list[Row]) -> tuple[tuple[str, ...], dict[str, int]]:
    """(class names, label -> class index): the sorted names of the training labels, or
    "0".."C-1" where every label is an index; a DataError at a label that is neither."""
    indices = [row for row in rows if INDEX.fullmatch(row.label)]
    if indices and len(indices) < len(rows):
        name = next(row for row in rows if not INDEX.fullmatch(row.label))
        raise DataError(
            f"{name.where}: label {name.label!r} is a name, but {indices[0].where} has the class "
            f"index {indices[0].label!r}; give every label as a name or every label as an index"
        )
    if not indices:
        classes = tuple(sorted({row.label for row in rows if row.split == "train"}))
        return classes, {name: i for i, name in enumerate(classes)}
    if negative := next((row for row in rows if int(row.label) < 0), None):
        raise DataError(
            f"{negative.where}: label {negative.label} is not a class index 0, 1, ...; give "
            "indices from 0, or class names"
        )
    index = {row.label: int(row.label) for row in rows}  # "07" is class 7
    return tuple(str(i) for i in range(1 + max(index.values()))), index


def csv_table(spec: DataSpec) -> Table:
    """The data set's rows, checked: every image listed once, every class with training and
    test rows, every test label a class of train."""
    files = csv_files(spec)
    rows = [row for role, path in files for row in _read_rows(path, role)]
    seen: dict[Path, Row] = {}
    for row in rows:
        if (first := seen.setdefault(row.image, row)) is not row:
            raise DataError(
                f"{row.where}: {row.text} is listed again (first at {first.where}); each image "
                "needs one row with one label"
            )
    has = {split: [row for row in rows if row.split == split] for split in SPLITS}
    test_split = "test" if has["test"] else "val"
    where = ", ".join(str(path) for _, path in files)
    if not has["train"]:
        raise DataError(f"{where}: no train rows")
    if not has[test_split]:
        raise DataError(f"{where}: no test (or val) rows: the test set comes from them")
    classes, index = _classes(has["train"] + has[test_split])
    for split in ("train", test_split):
        for row in has[split]:
            if row.label not in index:
                shown = ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
                raise DataError(
                    f"{row.where}: label {row.label!r} has no train rows, so it is not one of "
                    f"the classes ({shown})"
                )
        counts = Counter(index[row.label] for row in has[split])
        if empty := [i for i in range(len(classes)) if not counts[i]]:
            what = f"class {classes[empty[0]]!r}"
            raise DataError(
                f"{where}: {what} has no {split} rows; every class needs training and test "
                "images (with index labels, every index from 0 to the largest)"
            )
    if test_split == "test" and has["val"]:
        log.warning(
            "%s: %d val rows are not used: the test rows are the test set, and the validation "
            "set is held out of train (data.n_val)",
            where,
            len(has["val"]),
        )
    return Table(
        classes,
        [(row, index[row.label]) for row in has["train"]],
        [(row, index[row.label]) for row in has[test_split]],
        files,
    )


def csv_classes(spec: DataSpec) -> tuple[str, ...]:
    return csv_table(spec).classes


def csv_fingerprint(spec: DataSpec) -> str:
    """Each CSV file's content, each image's path as written, size and mtime, the class names
    and the colour mode `read_image` gives; a DataError naming the row of a missing image."""
    table = csv_table(spec)
    listing = []
    for row, _ in table.train + table.test:
        try:
            stat = row.image.stat()
        except FileNotFoundError:
            raise DataError(
                f"{row.where}: image {row.image} not found (a path is relative to its CSV's folder)"
            ) from None
        except OSError as e:
            raise fingerprint.damaged_file_error(row.image, e) from e
        listing.append(f"{row.split}\0{row.text}\0{stat.st_size}\0{stat.st_mtime_ns}")
    digests = [f"{role}\0{fingerprint.file_digest(path)}" for role, path in table.files]
    return fingerprint.combine("csv", "RGB", list(table.classes), digests, listing)


def load_csv(
    spec: DataSpec, workers: int | None = None, memory_limit: int | None = None
) -> Dataset:
    """The images of the CSV data set, decoded at `data.image_size` (default 32): in memory where
    they take at most `memory_limit` bytes (default a quarter of this machine's), else once to
    a memory-mapped file in the cache folder, as image-folder does (imagefolder.py)."""
    table = csv_table(spec)
    size = spec.image_size or DEFAULT_IMAGE_SIZE
    limit = memory_bytes() // 4 if memory_limit is None else memory_limit
    on_disk = (len(table.train) + len(table.test)) * 3 * size**2 > limit

    def read(rows: list[tuple[Row, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        paths = [row.image for row, _ in rows]
        labels = torch.tensor([label for _, label in rows])
        n_workers = workers or (min(8, _cores()) if len(paths) >= THREADS_FROM else 1)
        if on_disk:
            decoded = cache_root() / "decoded"
            log.info("%s: decoding %d images to %s (once)", spec.path, len(paths), decoded)
            return decode_to_disk(paths, size, decoded, read_image, n_workers), labels
        return _read_images(paths, size, n_workers), labels

    train_x, train_y = read(table.train)
    test_x, test_y = read(table.test)
    log.info(
        "%s: %d classes, %d training and %d test images at %d px",
        spec.path,
        len(table.classes),
        len(train_x),
        len(test_x),
        size,
    )
    return build_dataset(table.classes, train_x, train_y, test_x, test_y, spec)
