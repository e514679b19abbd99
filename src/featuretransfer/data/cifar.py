"""CIFAR-10 and CIFAR-100 from their official python-format folders, and their class groups.

Each loader returns a `data.Dataset` of uint8 [N, 3, 32, 32] tensors held in memory:
- `load_cifar10` / `load_cifar100` read the official "python version" folders
  (https://www.cs.toronto.edu/~kriz/cifar.html, unpacked: `tar xzf cifar-10-python.tar.gz`);
  `data.path` is that folder or its parent. The files are pickles, so they are read with a
  restricted unpickler that builds only plain containers and uint8 numpy arrays.
Folders of images (and ImageNet's class groups) are in imagefolder.py. The built-in man-made vs
natural split (`cifar100_group_split_classes`) follows the paper's: A man-made, B natural.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from featuretransfer.data import fingerprint
from featuretransfer.data.dataset import DataError, Dataset, build_dataset
from featuretransfer.specs import DataSpec

log = logging.getLogger(__name__)

CIFAR_IMAGE = (3, 32, 32)  # official layout of one row of b"data": channel-major R, G, B planes
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_MANMADE = ("airplane", "automobile", "ship", "truck")  # the other six are animals

# The 20 superclasses in the index order of the official meta's coarse_label_names.
CIFAR100_SUPERCLASSES = (
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
)
# The five fine classes of each superclass, spelled as in the official meta's fine_label_names.
CIFAR100_SUPERCLASS_MEMBERS = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
# The official fine label names are in alphabetical order.
CIFAR100_FINE_CLASSES = tuple(sorted(n for ns in CIFAR100_SUPERCLASS_MEMBERS.values() for n in ns))
# Fine class index -> superclass index, the same in every official file (checked on loading).
CIFAR100_COARSE = tuple(
    next(i for i, s in enumerate(CIFAR100_SUPERCLASSES) if n in CIFAR100_SUPERCLASS_MEMBERS[s])
    for n in CIFAR100_FINE_CLASSES
)
# Man-made vs natural on superclasses, as the paper's ImageNet split. "people" is natural: living
# beings, not artefacts; the ImageNet split likewise puts ballplayer, groom and scuba diver
# (classes 981-983) in its natural half, and fruit and vegetables (936-957) there too.
CIFAR100_MANMADE_SUPERCLASSES = (
    "food_containers",
    "household_electrical_devices",
    "household_furniture",
    "large_man-made_outdoor_things",
    "vehicles_1",
    "vehicles_2",
)
CIFAR100_NATURAL_SUPERCLASSES = tuple(
    s for s in CIFAR100_SUPERCLASSES if s not in CIFAR100_MANMADE_SUPERCLASSES
)


# ---- restricted unpickling --------------------------------------------------------------------


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(text, "latin1"); no other codec.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin1")


def _numpy_reconstruct() -> Callable:
    try:  # numpy >= 2 moved the module; the old name still loads but warns
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# The only globals a CIFAR pickle needs: those numpy uses to rebuild a plain ndarray.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _latin1_encode,
}


class _CifarUnpickler(pickle.Unpickler):
    """Refuses every global but numpy's array rebuilders: a shared folder may hold a planted file,
    and a plain pickle.load runs whatever callable the file names."""

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")  # Python 2 str -> bytes: the official files
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DataError(
                f"{self.path}: refused to unpickle global {module}.{name}; a CIFAR file holds only "
                f"dicts, lists, strings, numbers and uint8 arrays, so this is not an official file"
            )
        return _ALLOWED_GLOBALS[module, name]()


def read_cifar_pickle(path: Path) -> dict[str, object]:
    """One CIFAR pickle as a dict with str keys, read without running code from the file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            obj = _CifarUnpickler(f, path).load()
    except DataError:
        raise
    except Exception as e:  # a corrupt pickle fails in many ways (EOFError, ValueError, ...)
        raise DataError(f"{path}: cannot read CIFAR pickle ({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


# ---- CIFAR ------------------------------------------------------------------------------------


def _cifar_folder(spec: DataSpec, subdir: str, files: tuple[str, ...]) -> Path:
    if spec.path is None:
        raise DataError(
            f"{spec.name}: set data.path (or --data DIR) to the unpacked python version from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html (the folder {subdir}/ or its parent)"
        )
    root = Path(spec.path).expanduser()
    for folder in (root, root / subdir):
        if all((folder / name).is_file() for name in files):
            return folder
    folder = root / subdir if (root / subdir).is_dir() else root
    missing = [name for name in files if not (folder / name).is_file()]
    raise DataError(f"{folder}: missing {', '.join(missing)} of {spec.name}'s python version")


def _label_names(path: Path, key: str) -> tuple[str, ...]:
    names = read_cifar_pickle(path).get(key)
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{path}: no list of class names under {key!r}")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)


def _read_batch(path: Path, n_classes: dict[str, int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Images [N, 3, 32, 32] and one label tensor per key of `n_classes` (key -> class count)."""
    batch = read_cifar_pickle(path)
    x = batch.get("data")
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        raise DataError(f"{path}: 'data' is not a uint8 array")
    if x.ndim != 2 or x.shape[1] != np.prod(CIFAR_IMAGE):
        raise DataError(f"{path}: 'data' has shape {x.shape}, expected N x 3072")
    labels = []
    for key, n in n_classes.items():
        y = batch.get(key)
        if isinstance(y, list) and all(type(v) is int for v in y):  # not bools, not floats
            y = np.asarray(y, dtype=np.int64)
        elif isinstance(y, np.ndarray) and y.dtype.kind in "iu":
            y = y.astype(np.int64)
        else:
            raise DataError(f"{path}: no list of integer labels under {key!r}")
        if y.shape != (len(x),):
            raise DataError(f"{path}: {len(x)} images but {key!r} has shape {y.shape}")
        if len(y) and not (0 <= y.min() and y.max() < n):
            raise DataError(f"{path}: {key!r} has labels outside 0..{n - 1}")
        labels.append(torch.from_numpy(y))
    return torch.from_numpy(x.reshape(len(x), *CIFAR_IMAGE).copy()), labels


def _warn_if_unofficial(path: Path, names: tuple[str, ...], official: tuple[str, ...]) -> None:
    if names != official:
        log.warning(
            "%s: class names differ from the official ones; built-in splits by name may not apply",
            path,
        )


CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
# data set -> (the official folder's name, the files read from it)
CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", (*CIFAR10_TRAIN_FILES, "test_batch", "batches.meta")),
    "cifar100": ("cifar-100-python", ("train", "test", "meta")),
}


def cifar_fingerprint(spec: DataSpec) -> str:
    """The content of every file the loader reads (see data/fingerprint.py)."""
    folder = _cifar_folder(spec, *CIFAR_FILES[spec.name])
    files = CIFAR_FILES[spec.name][1]
    return fingerprint.combine(spec.name, [fingerprint.file_digest(folder / f) for f in files])


def load_cifar10(spec: DataSpec) -> Dataset:
    train_files = CIFAR10_TRAIN_FILES
    folder = _cifar_folder(spec, *CIFAR_FILES["cifar10"])
    classes = _label_names(folder / "batches.meta", "label_names")
    _warn_if_unofficial(folder / "batches.meta", classes, CIFAR10_CLASSES)
    parts = [_read_batch(folder / name, {"labels": len(classes)}) for name in train_files]
    train_x = torch.cat([x for x, _ in parts])
    train_y = torch.cat([y for _, (y,) in parts])
    test_x, (test_y,) = _read_batch(folder / "test_batch", {"labels": len(classes)})
    log.info("CIFAR-10 from %s: %d training, %d test images", folder, len(train_x), len(test_x))
    return build_dataset(classes, train_x, train_y, test_x, test_y, spec)


def _check_coarse(path: Path, fine: torch.Tensor, coarse: torch.Tensor, official: bool) -> None:
    """Each fine class has one superclass, and with the official names the official one."""
    pairs = torch.unique(torch.stack([fine, coarse], 1), dim=0).tolist()
    seen: dict[int, int] = {}
    for f, c in pairs:
        if seen.setdefault(f, c) != c:
            raise DataError(f"{path}: fine class {f} is filed under superclasses {seen[f]} and {c}")
        if official and CIFAR100_COARSE[f] != c:
            raise DataError(
                f"{path}: fine class {CIFAR100_FINE_CLASSES[f]} is filed under superclass {c}, "
                f"not {CIFAR100_COARSE[f]} ({CIFAR100_SUPERCLASSES[CIFAR100_COARSE[f]]}) "
                f"as in the official files"
            )


def load_cifar100(spec: DataSpec) -> Dataset:
    """CIFAR-100 with its 100 fine classes; the superclasses are checked against CIFAR100_COARSE."""
    folder = _cifar_folder(spec, *CIFAR_FILES["cifar100"])
    classes = _label_names(folder / "meta", "fine_label_names")
    superclasses = _label_names(folder / "meta", "coarse_label_names")
    official = classes == CIFAR100_FINE_CLASSES and superclasses == CIFAR100_SUPERCLASSES
    _warn_if_unofficial(
        folder / "meta", classes + superclasses, CIFAR100_FINE_CLASSES + CIFAR100_SUPERCLASSES
    )
    n_classes = {"fine_labels": len(classes), "coarse_labels": len(superclasses)}
    train_x, (train_y, train_coarse) = _read_batch(folder / "train", n_classes)
    test_x, (test_y, test_coarse) = _read_batch(folder / "test", n_classes)
    _check_coarse(folder / "train", train_y, train_coarse, official)
    _check_coarse(folder / "test", test_y, test_coarse, official)
    log.info("CIFAR-100 from %s: %d training, %d test images", folder, len(train_x), len(test_x))
    return build_dataset(classes, train_x, train_y, test_x, test_y, spec)


def cifar10_group_split_classes() -> tuple[list[str], list[str]]:
    """CIFAR-10's man-made vs natural split: (A = vehicles, B = animals), as class names."""
    return list(CIFAR10_MANMADE), [c for c in CIFAR10_CLASSES if c not in CIFAR10_MANMADE]


def cifar100_group_split_classes() -> tuple[list[str], list[str]]:
    """The split "man-made-vs-natural": (A = 30 man-made, B = 70 natural) fine class names."""

    def members(superclasses: tuple[str, ...]) -> list[str]:
        names = {n for s in superclasses for n in CIFAR100_SUPERCLASS_MEMBERS[s]}
        return [n for n in CIFAR100_FINE_CLASSES if n in names]

    return members(CIFAR100_MANMADE_SUPERCLASSES), members(CIFAR100_NATURAL_SUPERCLASSES)
