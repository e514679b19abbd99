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
from importlib import resources
from pathlib import Path

from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import (
    DATA_SETS,
    class_names,
    with_fingerprint,
)
from featuretransfer.specs import (
    DataSpec,
    ResourceSpec,
)
from featuretransfer.study.datacheck import class_counts
from featuretransfer.study.precision import resolve_precision
from featuretransfer.study.sections import (
    model_of,
    n_layers_of,
    report_of,
    section,
    split_of,
    study_keys_of,
    train_of,
    volume_of,
)
from featuretransfer.study.source import (
    SOURCE_TREATMENTS,
    SourceError,
    fit_to_source,
    parse_source,
)
from featuretransfer.study.splits import (
    SplitError,
    target_split,
)
from featuretransfer.study.studyspec import (
    STUDY_KEYS,
    TOP_KEYS,
    Experiment,
    StudyError,
    StudySpec,
)


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
    data = section(raw, "data", DataSpec)
    if data_path is not None:  # --data: relative to the working folder, as any command argument
        data = dataclasses.replace(data, path=str(Path(data_path).expanduser()))
    elif data.path is not None:  # relative to the study file, as every path in it
        data = dataclasses.replace(data, path=str(base / Path(data.path).expanduser()))
    if data.name not in DATA_SETS:
        raise StudyError(f"data.name = {data.name!r} is unknown; known: {', '.join(DATA_SETS)}")
    net = model_of(raw, base)
    train = train_of(raw)
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
    study_keys = {"cuts": tuple(range(1, n_layers))} | study_keys_of(study, "study", n_layers)
    splits = raw.get("splits", [{"seed": 0}])
    if not isinstance(splits, list) or not splits:
        raise StudyError("[[splits]] should list at least one split")
    split_specs = tuple(split_of(entry, i, data.name, names) for i, entry in enumerate(splits))
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
        own = study_keys_of(entry, f"splits[{i}]", n_layers)
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
        resources=section(raw, "resources", ResourceSpec),
        experiments=tuple(experiments),
        volume=(volume := volume_of(raw, [s.name for s in split_specs])),
        report=report_of(raw),
        convergence=convergence,
        class_counts=class_counts(data)
        if volume.n_train_per_class and volume.schedule == "steps"
        else (),
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
    study_keys = study_keys_of(study, "study", n_layers, SOURCE_TREATMENTS)
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
        resources=section(raw, "resources", ResourceSpec),
        source=source,
        report=report_of(raw),
    )
