"""A study file (TOML) parsed into a frozen StudySpec and validated once.

    name = "my-study"
    [data]    name, n_val, val_seed, path           -> DataSpec
    [model]   name, width, init, dropout            -> NetSpec
    [model]   name = "pkg.module:factory" | "hf:FOLDER", file, units, args   (your own model)
    [model]   mean, std   (an hf: model with a [source]: its own input normalisation)
    [source]  checkpoint, net, model, trained_on, classes, allow_pickle  -> SourceSpec
    [train]   epochs, batch_size, lr, ...           -> TrainSpec
    [study]   treatments, cuts, targets, seeds     (what a split runs unless it sets its own)
    [[splits]] seed = 0                             (random halves)
    [[splits]] groups = "apparel-vs-footwear"       (a built-in semantic split)
    [[splits]] name = "mine", A = [...], B = [...]  (classes by name or index)
               + any of treatments, cuts, targets, seeds  -> Experiment (this split's own)
    [volume]  n_train_per_class = [k, ...], seeds, splits  -> VolumeSpec (data-volume experiment)
    [resources] cpus, gpus                          -> ResourceSpec (per job, on a cluster)
    [report]  margin, noise, alpha                  -> ReportSpec (how verdicts are decided)

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
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import (
    DATA_SETS,
    class_names,
    train_counts,
    with_fingerprint,
)
from featuretransfer.nets.factory import resolve_model
from featuretransfer.nets.registry import MODELS
from featuretransfer.nets.units import HF_PREFIX, ModelError, is_user_model
from featuretransfer.specs import (
    HALVES,
    TREATMENTS,
    DataSpec,
    NetSpec,
    ReportSpec,
    ResourceSpec,
    SourceSpec,
    SplitSpec,
    TrainSpec,
    check_settings,
)
from featuretransfer.study.source import (
    SOURCE_TREATMENTS,
    SourceError,
    fit_to_source,
    parse_source,
)
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
    "report",
    "source",
)
STUDY_KEYS = ("treatments", "cuts", "targets", "seeds")  # [study], or one split's own
STRING_LISTS = ("data.class_names",)  # list-valued keys of strings (the rest hold integers)
DERIVED = ("data.fingerprint",)  # spec fields the tool computes: never set in a study file
SPLIT_KINDS = ("random", "semantic")


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
    # "steps": every k trains as many SGD steps as the main base net of its half (as the
    # original's fixed-iteration solvers: a small k is passed many times, and overfits);
    # "epochs": every k trains `train.epochs` passes over its own images (a small k then takes
    # few steps and is undertrained, not overfit)
    schedule: str = "steps"


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
    report: ReportSpec = ReportSpec()  # how the report decides; not in any job id
    # training images per class after the validation hold-out, read from the data where the
    # plan needs them (a [volume] with fixed steps); derived from the data, not a setting
    class_counts: tuple[int, ...] = ()
    source: SourceSpec | None = None  # a pretrained source in the place of baseA
    # > 1: each target's base net is also trained this many times as long (epochs, milestones,
    # warm-up, steps), so the report can check that the base nets converged: a control that
    # gains from longer training is no control (observations 3 and 5); 0: no such check
    convergence: int = 0

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


def load_study(
    path: Path, data_path: str | None = None, base: Path | None = None, device: str | None = "auto"
) -> StudySpec:
    """Parse and validate a study file; `data_path` (from --data) overrides data.path; paths in
    the file are relative to `base` (default: the file's folder); train.precision "auto" is
    resolved for `device` (resolve_precision; None: left for the caller to resolve once it
    knows the device)."""
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
        study = parse_study(raw, data_path, base=path.parent if base is None else base)
    except (StudyError, SplitError) as e:
        raise StudyError(f"{path}: {e}") from None
    return study if device is None else resolve_precision(study, device)


def native_bf16(device: str) -> bool:
    """Whether `device` ("auto": a GPU if there is one) multiplies bfloat16 matrices natively:
    a CPU with AVX512-BF16 or AMX-BF16 units, or a GPU with bf16 (Ampere and later)."""
    name = device.split(",")[0]
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    kind = torch.device(name).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if kind != "cpu":
        return False
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()  # torch >= 2.5
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


def resolve_precision(study: StudySpec, device: str = "auto") -> StudySpec:
    """The study with train.precision "auto" made concrete for `device`: "bf16" where it runs
    bf16 natively, else "fp32". Done before any job id is computed, so ids and records name the
    precision the nets train in: on a machine that resolves otherwise the same study plans
    other nets (pin the precision in the study file to go on with the same ones)."""
    if study.train.precision != "auto":
        return study
    precision = "bf16" if native_bf16(device) else "fp32"
    return dataclasses.replace(study, train=dataclasses.replace(study.train, precision=precision))


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
        kind = str if key in STRING_LISTS else int
        ok = isinstance(value, list) and all(
            isinstance(v, kind) and not isinstance(v, bool) for v in value
        )
        value = tuple(value) if ok else value
    else:  # strings, and optional strings (default None)
        ok = isinstance(value, str)
    if not ok:
        want = type(default or "").__name__
        if isinstance(default, tuple):
            want = "a list of strings" if key in STRING_LISTS else "a list of integers"
        raise StudyError(f"{key} = {value!r} should be {want}")
    return value


def _section(raw: dict, section: str, cls):
    table = raw.get(section, {})
    if not isinstance(table, dict):
        raise StudyError(f"[{section}] should be a table")
    defaults = cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    allowed = [name for name in fields if f"{section}.{name}" not in DERIVED]
    for key, value in table.items():
        if f"{section}.{key}" in DERIVED:
            raise StudyError(f"{section}.{key} is computed by the tool; remove it from the file")
        if key not in fields:
            raise StudyError(f"unknown key {section}.{key}; allowed: {', '.join(allowed)}")
        values[key] = _check_value(f"{section}.{key}", value, getattr(defaults, key))
    spec = dataclasses.replace(defaults, **values)
    try:
        check_settings(spec, section)
    except ValueError as e:
        raise StudyError(str(e)) from None
    return spec


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
        values["targets"] = _list(table, "targets", where, allowed=HALVES)
    if "seeds" in table:
        values["seeds"] = _list(table, "seeds", where, kind=int)
        if any(seed < 0 for seed in values["seeds"]):
            raise StudyError(f"{where}.seeds = {list(values['seeds'])}: each should be >= 0")
    for key, example in (("targets", '["B"]'), ("seeds", "[0]")):  # not silently a default
        if key in values and not values[key]:
            raise StudyError(f"{where}.{key} = [] is empty; give at least one, e.g. {example}")
    return values


def _split(entry, i: int, data_name: str, names: tuple[str, ...]) -> SplitSpec:
    if not isinstance(entry, dict):
        raise StudyError(f"splits[{i}] should be a table")
    keys = set(entry) - set(STUDY_KEYS)  # what defines the split; STUDY_KEYS are its own run
    kind = entry.get("kind", "semantic")
    if "kind" in entry and (keys & {"name", "groups"}) and kind not in SPLIT_KINDS:
        raise StudyError(
            f"splits[{i}].kind = {kind!r}; use 'random' (similar halves: Figure 2, Table 1) or "
            "'semantic' (dissimilar halves: Figure 3)"
        )
    if keys == {"seed"} and isinstance(entry["seed"], int) and not isinstance(entry["seed"], bool):
        return random_split(len(names), entry["seed"])
    if keys - {"kind"} == {"groups"} and isinstance(entry["groups"], str):
        return builtin_group_split(data_name, entry["groups"], names, kind)
    if keys - {"kind"} == {"A", "B"}:
        raise StudyError(
            f'splits[{i}] gives A and B but no name: your own class groups need name = "..." '
            "(it names the split in the report and the output)"
        )
    if keys - {"kind"} == {"name", "A", "B"} and isinstance(entry["name"], str):
        for half in HALVES:
            if not isinstance(entry[half], list):
                raise StudyError(f"splits[{i}].{half} should be a list of class names or indices")
        return group_split(entry["name"], entry["A"], entry["B"], names, kind)
    raise StudyError(
        f"splits[{i}] has keys {sorted(entry)}; use either seed = S (random halves), "
        f'groups = "NAME" (built-in), or name, A, B (your own class groups; kind = "random" or '
        f'"semantic", default semantic), plus any of {", ".join(STUDY_KEYS)}'
    )


def _volume(raw: dict, split_names: list[str]) -> VolumeSpec:
    volume = raw.get("volume")
    if volume is None:
        return VolumeSpec()
    if not isinstance(volume, dict):
        raise StudyError("[volume] should be a table")
    allowed = ("n_train_per_class", "seeds", "splits", "schedule")
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
    for key, value in (("seeds", seeds), ("splits", splits)):
        if value == ():  # not silently the default; leave the key out for that
            raise StudyError(f"volume.{key} = [] is empty; give at least one, or leave it out")
    schedule = volume.get("schedule", "steps")
    if schedule not in ("steps", "epochs"):
        raise StudyError(
            f"volume.schedule = {schedule!r}; use 'steps' (the same SGD steps for every k, as the "
            "original) or 'epochs' (the same passes over each k's images)"
        )
    return VolumeSpec(
        n_train_per_class=ks, seeds=seeds or None, splits=splits or None, schedule=schedule
    )


MODEL_KEYS = ("name", "width", "init", "dropout", "n_outputs")  # NetSpec's keys a study sets
USER_MODEL_KEYS = ("file", "units", "args")  # a user's model only (nets/units.py)
# an hf: model's own input normalisation, in place of its pretrained source's image processor
INPUT_KEYS = ("mean", "std")


def _model(raw: dict, base: Path) -> NetSpec:
    table = raw.get("model", {})
    if not isinstance(table, dict):
        raise StudyError("[model] should be a table")
    for key in table:
        if key not in MODEL_KEYS + USER_MODEL_KEYS + INPUT_KEYS:
            allowed = ", ".join(MODEL_KEYS + USER_MODEL_KEYS + INPUT_KEYS)
            raise StudyError(f"unknown key model.{key}; allowed: {allowed}")
    net = _section({"model": {k: v for k, v in table.items() if k in MODEL_KEYS}}, "model", NetSpec)
    given = [key for key in INPUT_KEYS if key in table]
    normalize = raw.get("data", {}).get("normalize") if isinstance(raw.get("data"), dict) else None
    if (given or normalize == "model") and "source" not in raw:
        key = f"model.{given[0]}" if given else 'data.normalize = "model"'
        raise StudyError(
            f"{key} is for an hf: model with a pretrained [source]: the inputs are normalised "
            "as the source was trained; without one, by the data's own statistics"
        )
    if given:
        if len(given) == 1 or not net.name.startswith(HF_PREFIX):
            raise StudyError(
                "model.mean and model.std go together, with an hf: model (which normalises its "
                "own inputs)"
            )
        for key in INPUT_KEYS:
            values = table[key]
            numbers = isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
            )
            if not numbers or not values:
                raise StudyError(f"model.{key} = {values!r} should be a list of numbers (0..1)")
        net = dataclasses.replace(net, **{k: tuple(float(v) for v in table[k]) for k in given})
        try:
            check_settings(net, "model", INPUT_KEYS)
        except ValueError as e:
            raise StudyError(str(e)) from None
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
    if data_path is not None:  # --data: relative to the working folder, as any command argument
        data = dataclasses.replace(data, path=str(Path(data_path).expanduser()))
    elif data.path is not None:  # relative to the study file, as every path in it
        data = dataclasses.replace(data, path=str(base / Path(data.path).expanduser()))
    if data.name not in DATA_SETS:
        raise StudyError(f"data.name = {data.name!r} is unknown; known: {', '.join(DATA_SETS)}")
    net = _model(raw, base)
    train = _train(raw)
    if data.image_size and not DATA_SETS[data.name].resized:
        raise StudyError(
            f"data.image_size = {data.image_size} has no effect on {data.name}, whose images "
            f"keep their size; remove it (it applies to "
            f"{', '.join(name for name, d in DATA_SETS.items() if d.resized)})"
        )
    if data.class_names and data.name != "idx":
        raise StudyError(
            f'data.class_names names the classes of data.name = "idx" only; {data.name} has '
            "its own names"
        )
    study = raw.get("study", {})
    if not isinstance(study, dict):
        raise StudyError("[study] should be a table")
    for key in study:
        if key not in (*STUDY_KEYS, "convergence"):
            allowed = ", ".join((*STUDY_KEYS, "convergence"))
            raise StudyError(f"unknown key study.{key}; allowed: {allowed}")
    convergence = study.get("convergence", 0)
    if not isinstance(convergence, int) or isinstance(convergence, bool) or convergence in (1,):
        raise StudyError(
            f"study.convergence = {convergence!r} should be 0 (no check) or a whole factor >= 2 "
            "(each target's base net trained that many times as long)"
        )
    if convergence < 0:
        raise StudyError(f"study.convergence = {convergence} should be 0 or >= 2")
    n_layers = n_layers_of(net)
    if n_layers < 2:
        raise StudyError(
            f"model.units = {list(net.units)}: a model needs at least 2 units (layers 1..n are "
            "copied at a cut n = 1..L-1, so L >= 2); list more of its submodules"
        )
    try:
        names = class_names(data)
        data = with_fingerprint(data)
    except DataError as e:
        raise StudyError(str(e)) from None
    if "source" in raw:
        source_study = _source_study(raw, name, data, net, train, study, n_layers, names, base)
        return dataclasses.replace(source_study, convergence=convergence)
    study_keys = {"cuts": tuple(range(1, n_layers))} | _study_keys(study, "study", n_layers)
    splits = raw.get("splits", [{"seed": 0}])
    if not isinstance(splits, list) or not splits:
        raise StudyError("[[splits]] should list at least one split")
    split_specs = tuple(_split(entry, i, data.name, names) for i, entry in enumerate(splits))
    if len({s.name for s in split_specs}) != len(split_specs):
        raise StudyError("two splits share a name; each split needs its own")
    for i, split in enumerate(split_specs):
        for j, other in enumerate(split_specs[:i]):
            if (split.A, split.B) == (other.A, other.B):
                raise StudyError(
                    f"splits[{i}] ({split.name}) has the classes of splits[{j}] ({other.name}): "
                    "the same nets; keep one of them"
                )
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
        volume=(volume := _volume(raw, [s.name for s in split_specs])),
        report=_report(raw),
        convergence=convergence,
        class_counts=_class_counts(data)
        if volume.n_train_per_class and volume.schedule == "steps"
        else (),
    )


def _class_counts(data) -> tuple[int, ...]:
    try:
        return train_counts(data)
    except DataError as e:
        raise StudyError(str(e)) from None


def _report(raw: dict) -> ReportSpec:
    return _section(raw, "report", ReportSpec)


def _train(raw: dict) -> TrainSpec:
    """[train], with the checks that span two keys: a schedule's own keys go with it."""
    train = _section(raw, "train", TrainSpec)
    table = raw.get("train", {})
    late = [m for m in table.get("lr_milestones", []) if m >= train.epochs]
    if train.schedule == "step" and late:
        raise StudyError(
            f"train.lr_milestones = {list(train.lr_milestones)}: {late[0]} has no effect with "
            f"train.epochs = {train.epochs} (a milestone m cuts the rate from epoch m + 1 on); "
            f"give milestones below {train.epochs}"
        )
    if train.schedule == "cosine" and table.get("lr_milestones"):
        raise StudyError(
            'train.lr_milestones is for schedule = "step"; a cosine schedule decays by itself'
        )
    if train.schedule == "step" and train.warmup_epochs:
        raise StudyError('train.warmup_epochs is for schedule = "cosine"')
    if train.warmup_epochs >= train.epochs:
        raise StudyError(
            f"train.warmup_epochs = {train.warmup_epochs} should be below train.epochs = "
            f"{train.epochs}"
        )
    return train


def check_against_data(study: StudySpec, dataset) -> None:
    """Refuse a study that asks the data for more than they hold: a class index beyond the data
    set's classes, or more training images per class than a class has (after the validation
    hold-out). A net recorded as trained on k images per class must have seen k."""
    n_classes = len(dataset.classes)
    counts = torch.bincount(dataset.train_y, minlength=n_classes).tolist()
    for split in study.splits:
        if max(split.A + split.B) >= n_classes:
            raise StudyError(
                f"split {split.name} names class {max(split.A + split.B)}, but the data have "
                f"{n_classes} classes (0..{n_classes - 1})"
            )
    asked = [("data.n_train_per_class", study.data.n_train_per_class)]
    asked += [("volume.n_train_per_class", k) for k in study.volume.n_train_per_class]
    used = sorted({c for split in study.splits for c in split.A + split.B})
    fewest = min(used, key=lambda c: counts[c])
    for key, k in asked:
        if k > counts[fewest]:
            raise StudyError(
                f"{key} = {k}, but class {dataset.classes[fewest]!r} has only {counts[fewest]} "
                f"training images (after data.n_val = {study.data.n_val} held out for "
                f"validation); give at most {counts[fewest]}, or 0 for all of them"
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
        # an hf source's input shape and image processor (study.json records what is used)
        net, data = fit_to_source(source, net, data, "normalize" in raw.get("data", {}))
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
        report=_report(raw),
    )
