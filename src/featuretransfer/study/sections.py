"""The sections of a study file, each checked once: a generic checker for the sections that are
a spec dataclass ([data], [train], [resources], [report]: types, ranges, unknown keys), and the
sections with rules of their own ([model], [[splits]], [study] keys, [volume]). Every error names
the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from featuretransfer.nets.factory import resolve_model
from featuretransfer.nets.registry import MODELS
from featuretransfer.nets.units import HF_PREFIX, ModelError, is_user_model
from featuretransfer.specs import (
    HALVES,
    TREATMENTS,
    NetSpec,
    ReportSpec,
    SplitSpec,
    TrainSpec,
    check_settings,
)
from featuretransfer.study.splits import builtin_group_split, group_split, random_split
from featuretransfer.study.studyspec import (
    DERIVED,
    SPLIT_KINDS,
    STRING_LISTS,
    STUDY_KEYS,
    StudyError,
    VolumeSpec,
)


def check_value(key: str, value, default):
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


def section(raw: dict, section: str, cls):
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
        values[key] = check_value(f"{section}.{key}", value, getattr(defaults, key))
    spec = dataclasses.replace(defaults, **values)
    try:
        check_settings(spec, section)
    except ValueError as e:
        raise StudyError(str(e)) from None
    return spec


def list_of(table: dict, key: str, where: str, allowed=None, kind=str) -> tuple:
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


def study_keys_of(table: dict, where: str, n_layers: int, treatments=TREATMENTS) -> dict:
    """The [study] keys that `table` sets, validated; an empty list means the default."""
    all_cuts = tuple(range(1, n_layers))
    values = {}
    if "treatments" in table:
        values["treatments"] = list_of(table, "treatments", where, allowed=treatments)
    if "cuts" in table:
        values["cuts"] = list_of(table, "cuts", where, kind=int) or all_cuts
        bad = [c for c in values["cuts"] if c not in all_cuts]
        if bad:
            raise StudyError(f"{where}.cuts: n = {bad[0]} is outside 1..{n_layers - 1}")
    if "targets" in table:
        values["targets"] = list_of(table, "targets", where, allowed=HALVES)
    if "seeds" in table:
        values["seeds"] = list_of(table, "seeds", where, kind=int)
        if any(seed < 0 for seed in values["seeds"]):
            raise StudyError(f"{where}.seeds = {list(values['seeds'])}: each should be >= 0")
    for key, example in (("targets", '["B"]'), ("seeds", "[0]")):  # not silently a default
        if key in values and not values[key]:
            raise StudyError(f"{where}.{key} = [] is empty; give at least one, e.g. {example}")
    return values


def split_of(entry, i: int, data_name: str, names: tuple[str, ...]) -> SplitSpec:
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


def volume_of(raw: dict, split_names: list[str]) -> VolumeSpec:
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
    ks = list_of(volume, "n_train_per_class", "volume", kind=int)
    if not ks or min(ks) < 0:
        raise StudyError(
            f"volume.n_train_per_class = {list(ks)} should list images per class >= 1 (0: all)"
        )
    seeds = list_of(volume, "seeds", "volume", kind=int) if "seeds" in volume else None
    splits = (
        list_of(volume, "splits", "volume", allowed=split_names) if "splits" in volume else None
    )
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


def model_of(raw: dict, base: Path) -> NetSpec:
    table = raw.get("model", {})
    if not isinstance(table, dict):
        raise StudyError("[model] should be a table")
    for key in table:
        if key not in MODEL_KEYS + USER_MODEL_KEYS + INPUT_KEYS:
            allowed = ", ".join(MODEL_KEYS + USER_MODEL_KEYS + INPUT_KEYS)
            raise StudyError(f"unknown key model.{key}; allowed: {allowed}")
    net = section({"model": {k: v for k, v in table.items() if k in MODEL_KEYS}}, "model", NetSpec)
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


def report_of(raw: dict) -> ReportSpec:
    return section(raw, "report", ReportSpec)


def train_of(raw: dict) -> TrainSpec:
    """[train], with the checks that span two keys: a schedule's own keys go with it."""
    train = section(raw, "train", TrainSpec)
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
