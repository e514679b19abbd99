"""A study file (TOML) parsed into a frozen StudySpec and validated once.

    name = "my-study"
    [data]    name, n_val, val_seed, path           -> DataSpec
    [model]   name, width, init, dropout            -> NetSpec
    [train]   epochs, batch_size, lr, ...           -> TrainSpec
    [study]   treatments, cuts, targets, seeds
    [[splits]] seed = 0                             (random halves)
    [[splits]] groups = "apparel-vs-footwear"       (a built-in semantic split)
    [[splits]] name = "mine", A = [...], B = [...]  (classes by name or index)
    [resources] cpus, gpus                          -> ResourceSpec (per job, on a cluster)

Every error names the key and says what is allowed. Presets live in `featuretransfer/presets/`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from featuretransfer.config import (
    HALVES,
    TREATMENTS,
    DataSpec,
    NetSpec,
    ResourceSpec,
    SplitSpec,
    TrainSpec,
)
from featuretransfer.data import DataError
from featuretransfer.datasets import LOADERS, class_names
from featuretransfer.models import MODELS
from featuretransfer.splits import SplitError, builtin_group_split, group_split, random_split


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and key."""


@dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    data: DataSpec
    net: NetSpec
    train: TrainSpec
    splits: tuple[SplitSpec, ...]
    treatments: tuple[str, ...] = TREATMENTS
    cuts: tuple[int, ...] = ()  # empty: every cut 1..L-1
    targets: tuple[str, ...] = ("B",)  # "A", "B": which half the treatments train on
    seeds: tuple[int, ...] = (0,)  # replicate seeds: each has its own base nets
    resources: ResourceSpec = ResourceSpec()  # per job, on a cluster


def preset_names() -> list[str]:
    files = resources.files("featuretransfer") / "presets"
    return sorted(p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml"))


def preset_path(name: str) -> Path:
    if name not in preset_names():
        raise StudyError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    return Path(str(resources.files("featuretransfer") / "presets" / f"{name}.toml"))


def load_study(path: Path, data_path: str | None = None) -> StudySpec:
    """Parse and validate a study file; `data_path` (from --data) overrides data.path."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise StudyError(f"study file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StudyError(f"cannot read study file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{path}: TOML syntax error: {e}") from None
    try:
        return parse_study(raw, data_path)
    except (StudyError, SplitError) as e:
        raise StudyError(f"{path}: {e}") from None


def _check_value(key: str, value, default):
    """`value` converted to the type of `default`, or a StudyError naming `key`."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        value = tuple(value) if ok else value
    else:  # strings, and optional strings (default None)
        ok = isinstance(value, str)
    if not ok:
        want = "a list of integers" if isinstance(default, tuple) else type(default or "").__name__
        raise StudyError(f"{key} = {value!r} should be {want}")
    return value


def _section(raw: dict, section: str, cls):
    table = raw.get(section, {})
    if not isinstance(table, dict):
        raise StudyError(f"[{section}] should be a table")
    defaults = cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in fields:
            raise StudyError(f"unknown key {section}.{key}; allowed: {', '.join(fields)}")
        values[key] = _check_value(f"{section}.{key}", value, getattr(defaults, key))
    return dataclasses.replace(defaults, **values)


def _list(raw: dict, key: str, default: tuple, allowed=None, kind=str) -> tuple:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    ):
        raise StudyError(f"study.{key} = {value!r} should be a list of {kind.__name__}")
    bad = [v for v in value if allowed is not None and v not in allowed]
    if bad:
        raise StudyError(
            f"study.{key}: unknown {bad[0]!r}; allowed: {', '.join(map(str, allowed))}"
        )
    if len(set(value)) != len(value):
        raise StudyError(f"study.{key} lists a value twice")
    return tuple(value)


def _split(entry, i: int, data_name: str, names: tuple[str, ...]) -> SplitSpec:
    if not isinstance(entry, dict):
        raise StudyError(f"splits[{i}] should be a table")
    keys = set(entry)
    if keys == {"seed"} and isinstance(entry["seed"], int) and not isinstance(entry["seed"], bool):
        return random_split(len(names), entry["seed"])
    if keys == {"groups"} and isinstance(entry["groups"], str):
        return builtin_group_split(data_name, entry["groups"], names)
    if keys == {"name", "A", "B"} and isinstance(entry["name"], str):
        for half in HALVES:
            if not isinstance(entry[half], list):
                raise StudyError(f"splits[{i}].{half} should be a list of class names or indices")
        return group_split(entry["name"], entry["A"], entry["B"], names)
    raise StudyError(
        f"splits[{i}] has keys {sorted(keys)}; use either seed = S (random halves), "
        f'groups = "NAME" (built-in), or name, A, B (your own class groups)'
    )


def parse_study(raw: dict, data_path: str | None = None) -> StudySpec:
    allowed = {"name", "description", "data", "model", "train", "study", "splits", "resources"}
    for key in raw:
        if key not in allowed:
            raise StudyError(f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise StudyError("name = ... is missing or not a plain string (it names the output folder)")
    data = _section(raw, "data", DataSpec)
    if data_path is not None:
        data = dataclasses.replace(data, path=data_path)
    if data.name not in LOADERS:
        raise StudyError(f"data.name = {data.name!r} is unknown; known: {', '.join(LOADERS)}")
    net = _section(raw, "model", NetSpec)
    if net.name not in MODELS:
        raise StudyError(f"model.name = {net.name!r} is unknown; known: {', '.join(MODELS)}")
    if net.init not in ("kaiming", "reference"):
        raise StudyError(f"model.init = {net.init!r}; use 'kaiming' or 'reference'")
    train = _section(raw, "train", TrainSpec)
    if train.epochs < 1 or train.batch_size < 1 or train.lr <= 0 or train.best_k < 1:
        raise StudyError("train.epochs, batch_size, best_k must be >= 1 and train.lr > 0")
    study = raw.get("study", {})
    if not isinstance(study, dict):
        raise StudyError("[study] should be a table")
    for key in study:
        if key not in ("treatments", "cuts", "targets", "seeds"):
            raise StudyError(f"unknown key study.{key}; allowed: treatments, cuts, targets, seeds")
    n_layers = len(MODELS[net.name].layer_names)
    all_cuts = tuple(range(1, n_layers))
    cuts = _list(study, "cuts", all_cuts, kind=int) or all_cuts
    bad = [c for c in cuts if c not in all_cuts]
    if bad:
        raise StudyError(f"study.cuts: n = {bad[0]} is outside 1..{n_layers - 1} for {net.name}")
    splits = raw.get("splits", [{"seed": 0}])
    if not isinstance(splits, list) or not splits:
        raise StudyError("[[splits]] should list at least one split")
    try:
        names = class_names(data)
    except DataError as e:
        raise StudyError(str(e)) from None
    split_specs = tuple(_split(entry, i, data.name, names) for i, entry in enumerate(splits))
    if len({s.name for s in split_specs}) != len(split_specs):
        raise StudyError("two splits share a name; each split needs its own")
    return StudySpec(
        name=name,
        description=str(raw.get("description", "")),
        data=data,
        net=net,
        train=train,
        splits=split_specs,
        treatments=_list(study, "treatments", TREATMENTS, allowed=TREATMENTS),
        cuts=cuts,
        targets=_list(study, "targets", ("B",), allowed=HALVES) or ("B",),
        seeds=_list(study, "seeds", (0,), kind=int) or (0,),
        resources=_section(raw, "resources", ResourceSpec),
    )
