"""What an output folder's study.json says about its study, typed, for the report.

study/folder.py writes study.json from the typed StudySpec (its settings less where files lie,
and beside them the class names and the [report] rules). The report may not import the study
layer, so it reads the file back here into the specs' own dataclasses: the data, the model, the
schedule, the splits and the rules each have one type from the study file to the report, and a
study.json that does not fit them is refused in one line instead of read by guesses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from featuretransfer.specs import DataSpec, NetSpec, ReportSpec, SplitSpec, TrainSpec


class StudyInfoError(ValueError):
    """A study.json that does not fit the specs: one line naming the file and the key."""


@dataclass(frozen=True)
class StudyInfo:
    name: str = ""
    description: str = ""
    data: DataSpec = DataSpec()
    net: NetSpec = NetSpec()
    train: TrainSpec = TrainSpec()
    splits: tuple[SplitSpec, ...] = ()
    class_names: tuple[str, ...] = ()  # the data set's classes in label order
    report: ReportSpec = ReportSpec()  # how the report decides
    volume_schedule: str = ""  # the data-volume experiment's schedule, "" where none ran
    # every key as written, for the report's table of the study's settings
    settings: dict = field(default_factory=dict, compare=False)


SPECS = {"data": DataSpec, "net": NetSpec, "train": TrainSpec, "report": ReportSpec}


def read_study_info(path: Path) -> StudyInfo | None:
    """The study.json at `path`, typed; None where there is none (a table made elsewhere)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StudyInfoError(f"{path}: cannot be read as JSON ({err})") from None
    if not isinstance(written, dict):
        raise StudyInfoError(f"{path}: expected a JSON object of study settings")
    typed = {
        key: _spec(cls, written[key], f"{path}: {key}")
        for key, cls in SPECS.items()
        if key in written
    }
    splits = written.get("splits", [])
    if not isinstance(splits, list):
        raise StudyInfoError(f"{path}: splits: expected a list of splits")
    volume = written.get("volume") or {}
    return StudyInfo(
        name=str(written.get("name", "")),
        description=str(written.get("description", "")),
        splits=tuple(_spec(SplitSpec, s, f"{path}: splits") for s in splits),
        class_names=tuple(map(str, written.get("class_names", ()))),
        volume_schedule=str(volume.get("schedule", "")) if isinstance(volume, dict) else "",
        settings=written,
        **typed,
    )


def _spec(cls, value, where: str):
    """A spec dataclass from its JSON object (lists back to the tuples asdict wrote)."""
    if not isinstance(value, dict):
        raise StudyInfoError(f"{where}: expected a JSON object")
    unknown = sorted(set(value) - {f.name for f in fields(cls)})
    if unknown:
        raise StudyInfoError(f"{where}: unknown keys {', '.join(unknown)}")
    try:
        return cls(**{key: _tuples(v) for key, v in value.items()})
    except TypeError as err:
        raise StudyInfoError(f"{where}: {err}") from None


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
