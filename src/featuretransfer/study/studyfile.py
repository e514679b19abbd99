"""A study file (TOML) parsed into a frozen StudySpec and validated once.

    name = "my-study"
    [data]    name, n_val, val_seed, path           -> DataSpec
    [model]   name, width, init, dropout            -> NetSpec
    [model]   name = "pkg.module:factory" | "hf:FOLDER", file, units, args   (your own model)
    [source]  checkpoint, net, model, trained_on, classes  -> SourceSpec (a pretrained source)
    [train]   epochs, batch_size, lr, ...           -> TrainSpec
    [study]   treatments, cuts, targets, seeds     (what a split runs unless it sets its own)
    [[splits]] seed = 0                             (random halves)
    [[splits]] groups = "apparel-vs-footwear"       (a built-in semantic split)
    [[splits]] name = "mine", A = [...], B = [...]  (classes by name or index)
               + any of treatments, cuts, targets, seeds  -> Experiment (this split's own)
    [volume]  n_train_per_class = [k, ...], seeds, splits  -> VolumeSpec (data-volume experiment)
    [resources] cpus, gpus                          -> ResourceSpec (per job, on a cluster)

A split's own keys let one file hold several experiments, e.g. the random control on s0 only:

    [[splits]]
    seed = 0
    treatments = ["BnB", "BnB+", "AnB", "AnB+", "random"]

[volume] adds base nets trained on the first k training images per class (k = 0: all), on the
listed splits (default: the first) and seeds (default: [study] seeds).

Every error names the key and says what is allowed. Presets live in `featuretransfer/presets/`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tomllib

from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import LOADERS, class_names
from featuretransfer.nets.factory import resolve_model
from featuretransfer.nets.registry import MODELS
from featuretransfer.nets.units import ModelError, is_user_model
from featuretransfer.specs import (
    HALVES,
    TREATMENTS,
    DataSpec,
    NetSpec,
    ResourceSpec,
    SourceSpec,
    SplitSpec,
    TrainSpec,
)
from featuretransfer.study.source import SOURCE_TREATMENTS, SourceError, parse_source
from featuretransfer.study.splits import (
    SplitError,
    builtin_group_split,
    group_split,
    random_split,
    target_split,
)


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and key."""


TOP_KEYS = (
    "name",
    "description",
    "data",
    "model",
    "train",
    "study",
    "splits",
    "volume",
    "resources",
    "source",
)
STUDY_KEYS = ("treatments", "cuts", "targets", "seeds")  # [study], or one split's own


@dataclass(frozen=True)
class Experiment:
    """What one split runs; None keeps the [study] value (see StudySpec.experiment)."""

    split: str  # the split's name
    treatments: tuple[str, ...] | None = None
    cuts: tuple[int, ...] | None = None
    targets: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class VolumeSpec:
    """The supplementary data-volume experiment: base nets on the first k images per class."""

    n_train_per_class: tuple[int, ...] = ()  # the k's; 0 keeps all; empty: no such experiment
    seeds: tuple[int, ...] | None = None  # None: the [study] seeds
    splits: tuple[str, ...] | None = None  # split names; None: the first split


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
    experiments: tuple[Experiment, ...] = ()  # the splits that set their own keys
    volume: VolumeSpec = VolumeSpec()
    source: SourceSpec | None = None  # a pretrained source in the place of baseA

    def experiment(self, split: SplitSpec) -> Experiment:
        """The split's treatments, cuts, targets and seeds: its own where set, else the study's."""
        own = next((e for e in self.experiments if e.split == split.name), Experiment(split.name))
        values = {key: getattr(own, key) for key in STUDY_KEYS if getattr(own, key) is not None}
        return Experiment(split.name, **{key: getattr(self, key) for key in STUDY_KEYS} | values)


def preset_names() -> list[str]:
    files = resources.files("featuretransfer") / "presets"
    return sorted(p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml"))


def preset_path(name: str) -> Path:
    if name not in preset_names():
        raise StudyError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    return Path(str(resources.files("featuretransfer") / "presets" / f"{name}.toml"))


def load_study(path: Path, data_path: str | None = None, base: Path | None = None) -> StudySpec:
    """Parse and validate a study file; `data_path` (from --data) overrides data.path; paths in
    the file are relative to `base` (default: the file's folder)."""
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
        return parse_study(raw, data_path, base=path.parent if base is None else base)
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


def _list(table: dict, key: str, where: str, allowed=None, kind=str) -> tuple:
    """table[key] as a tuple of distinct `kind`s (from `allowed`); errors name `where.key`."""
    value = table[key]
    if not isinstance(value, list) or not all(
        isinstance(v, kind) and not isinstance(v, bool) for v in value
    ):
        raise StudyError(f"{where}.{key} = {value!r} should be a list of {kind.__name__}")
    bad = [v for v in value if allowed is not None and v not in allowed]
    if bad:
        raise StudyError(
            f"{where}.{key}: unknown {bad[0]!r}; allowed: {', '.join(map(str, allowed))}"
        )
    if len(set(value)) != len(value):
        raise StudyError(f"{where}.{key} lists a value twice")
    return tuple(value)


def _study_keys(table: dict, where: str, n_layers: int, treatments=TREATMENTS) -> dict:
    """The [study] keys that `table` sets, validated; an empty list means the default."""
    all_cuts = tuple(range(1, n_layers))
    values = {}
    if "treatments" in table:
        values["treatments"] = _list(table, "treatments", where, allowed=treatments)
    if "cuts" in table:
        values["cuts"] = _list(table, "cuts", where, kind=int) or all_cuts
        bad = [c for c in values["cuts"] if c not in all_cuts]
        if bad:
            raise StudyError(f"{where}.cuts: n = {bad[0]} is outside 1..{n_layers - 1}")
    if "targets" in table:
        values["targets"] = _list(table, "targets", where, allowed=HALVES) or ("B",)
    if "seeds" in table:
        values["seeds"] = _list(table, "seeds", where, kind=int) or (0,)
    return values


def _split(entry, i: int, data_name: str, names: tuple[str, ...]) -> SplitSpec:
    if not isinstance(entry, dict):
        raise StudyError(f"splits[{i}] should be a table")
    keys = set(entry) - set(STUDY_KEYS)  # what defines the split; STUDY_KEYS are its own run
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
        f"splits[{i}] has keys {sorted(entry)}; use either seed = S (random halves), "
        f'groups = "NAME" (built-in), or name, A, B (your own class groups), '
        f"plus any of {', '.join(STUDY_KEYS)}"
    )


def _volume(raw: dict, split_names: list[str]) -> VolumeSpec:
    volume = raw.get("volume")
    if volume is None:
        return VolumeSpec()
    if not isinstance(volume, dict):
        raise StudyError("[volume] should be a table")
    allowed = ("n_train_per_class", "seeds", "splits")
    for key in volume:
        if key not in allowed:
            raise StudyError(f"unknown key volume.{key}; allowed: {', '.join(allowed)}")
    if "n_train_per_class" not in volume:
        raise StudyError("volume.n_train_per_class = [k, ...] is missing (images per class)")
    ks = _list(volume, "n_train_per_class", "volume", kind=int)
    if not ks or min(ks) < 0:
        raise StudyError(
            f"volume.n_train_per_class = {list(ks)} should list images per class >= 1 (0: all)"
        )
    seeds = _list(volume, "seeds", "volume", kind=int) if "seeds" in volume else None
    splits = _list(volume, "splits", "volume", allowed=split_names) if "splits" in volume else None
    return VolumeSpec(n_train_per_class=ks, seeds=seeds or None, splits=splits or None)


MODEL_KEYS = ("name", "width", "init", "dropout", "n_outputs")  # NetSpec's keys a study sets
USER_MODEL_KEYS = ("file", "units", "args")  # a user's model only (nets/units.py)


def _model(raw: dict, base: Path) -> NetSpec:
    table = raw.get("model", {})
    if not isinstance(table, dict):
        raise StudyError("[model] should be a table")
    for key in table:
        if key not in MODEL_KEYS + USER_MODEL_KEYS:
            allowed = ", ".join(MODEL_KEYS + USER_MODEL_KEYS)
            raise StudyError(f"unknown key model.{key}; allowed: {allowed}")
    net = _section({"model": {k: v for k, v in table.items() if k in MODEL_KEYS}}, "model", NetSpec)
    if not is_user_model(net.name):
        if net.name not in MODELS:
            raise StudyError(
                f"model.name = {net.name!r} is unknown; known: {', '.join(MODELS)}, or your "
                "own: 'module:factory' or 'hf:FOLDER'"
            )
        for key in USER_MODEL_KEYS:
            if key in table:
                raise StudyError(f"model.{key} is for your own model; {net.name} is built in")
        return net
    for key in ("width", "init", "dropout"):
        if key in table:
            raise StudyError(
                f"model.{key} is a setting of the built-in nets; give your factory's "
                "arguments in [model.args]"
            )
    try:
        return resolve_model(net, base, table.get("file"), table.get("units"), table.get("args"))
    except ModelError as e:
        raise StudyError(str(e)) from None


def n_layers_of(net: NetSpec) -> int:
    return len(net.units) if is_user_model(net.name) else len(MODELS[net.name].layer_names)


def parse_study(raw: dict, data_path: str | None = None, base: Path | None = None) -> StudySpec:
    """A StudySpec from a parsed study file; `base` is the study file's folder (paths in the
    file are relative to it; default the working directory)."""
    base = Path(base if base is not None else ".")
    for key in raw:
        if key not in TOP_KEYS:
            raise StudyError(f"unknown key {key!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise StudyError("name = ... is missing or not a plain string (it names the output folder)")
    data = _section(raw, "data", DataSpec)
    if data_path is not None:
        data = dataclasses.replace(data, path=data_path)
    if data.name not in LOADERS:
        raise StudyError(f"data.name = {data.name!r} is unknown; known: {', '.join(LOADERS)}")
    net = _model(raw, base)
    if net.init not in ("kaiming", "reference"):
        raise StudyError(f"model.init = {net.init!r}; use 'kaiming' or 'reference'")
    train = _section(raw, "train", TrainSpec)
    if train.epochs < 1 or train.batch_size < 1 or train.lr <= 0 or train.best_k < 1:
        raise StudyError("train.epochs, batch_size, best_k must be >= 1 and train.lr > 0")
    if train.precision not in ("fp32", "bf16"):
        raise StudyError(f"train.precision = {train.precision!r}; use 'fp32' or 'bf16'")
    if train.crop < 0 or train.crop_pad < 0 or train.bias_lr_mult <= 0:
        raise StudyError("train.crop and crop_pad must be >= 0 and train.bias_lr_mult > 0")
    if data.normalize not in ("mean-std", "mean"):
        raise StudyError(f"data.normalize = {data.normalize!r}; use 'mean-std' or 'mean'")
    if net.n_outputs < 0 or data.image_size < 0:
        raise StudyError("model.n_outputs and data.image_size must be >= 0 (0: the default)")
    study = raw.get("study", {})
    if not isinstance(study, dict):
        raise StudyError("[study] should be a table")
    for key in study:
        if key not in STUDY_KEYS:
            raise StudyError(f"unknown key study.{key}; allowed: {', '.join(STUDY_KEYS)}")
    n_layers = n_layers_of(net)
    try:
        names = class_names(data)
    except DataError as e:
        raise StudyError(str(e)) from None
    if "source" in raw:
        return _source_study(raw, name, data, net, train, study, n_layers, names, base)
    study_keys = {"cuts": tuple(range(1, n_layers))} | _study_keys(study, "study", n_layers)
    splits = raw.get("splits", [{"seed": 0}])
    if not isinstance(splits, list) or not splits:
        raise StudyError("[[splits]] should list at least one split")
    split_specs = tuple(_split(entry, i, data.name, names) for i, entry in enumerate(splits))
    if len({s.name for s in split_specs}) != len(split_specs):
        raise StudyError("two splits share a name; each split needs its own")
    experiments = []
    for i, (entry, split) in enumerate(zip(splits, split_specs)):
        own = _study_keys(entry, f"splits[{i}]", n_layers)
        if own:
            experiments.append(Experiment(split.name, **own))
    return StudySpec(
        name=name,
        description=str(raw.get("description", "")),
        data=data,
        net=net,
        train=train,
        splits=split_specs,
        **study_keys,
        resources=_section(raw, "resources", ResourceSpec),
        experiments=tuple(experiments),
        volume=_volume(raw, [s.name for s in split_specs]),
    )


def _source_study(raw, name, data, net, train, study, n_layers, names, base) -> StudySpec:
    """A study whose baseA is a pretrained checkpoint: one target split, half B."""
    for key in ("splits", "volume"):
        if key in raw:
            raise StudyError(
                f"[{key}] does not go with [source]: the target is source.classes (default: "
                "every class of the data set)"
            )
    try:
        source, classes = parse_source(raw["source"], net, base)
    except SourceError as e:
        raise StudyError(str(e)) from None
    study_keys = _study_keys(study, "study", n_layers, SOURCE_TREATMENTS)
    if study_keys.get("targets", ("B",)) != ("B",):
        raise StudyError("study.targets: with [source] the target is B (source.classes)")
    return StudySpec(
        name=name,
        description=str(raw.get("description", "")),
        data=data,
        net=net,
        train=train,
        splits=(target_split(classes, names),),
        **({"cuts": tuple(range(1, n_layers)), "treatments": SOURCE_TREATMENTS} | study_keys),
        resources=_section(raw, "resources", ResourceSpec),
        source=source,
    )
