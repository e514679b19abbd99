"""An output folder's own files: which study made it (study.json, compared before a run),
where its study file and data lay (study-location.json), its plan, and moving an earlier study
aside (`run --set-aside`). The job folders themselves are the store's."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from featuretransfer import store
from featuretransfer.data.registry import class_names
from featuretransfer.study.studyspec import StudySpec

SET_ASIDE = "set-aside"  # where --set-aside moves an earlier study of the output folder
LOCATION = "study-location.json"  # where the study file and its data lay when it ran


class FolderError(Exception):
    """An output folder that cannot take this study: printed as one line, exit code 2."""


def study_record(study: StudySpec) -> dict:
    """What identifies a study's output folder: its settings, less where the data and the model
    lie, how the report decides and what a cluster gives each net (none of them scientific),
    and the store's version."""
    record = json.loads(json.dumps(asdict(study)))
    record["data"].pop("path")
    record["data"].pop("class_names")  # labels: the names shown are stored beside (shown)
    record.pop("report")
    record.pop("resources")  # what a cluster gives each net: in no job id
    record.pop("class_counts")  # read from the data, which the fingerprint names already
    record["net"].pop("path")  # where a user's model file lies; its content hash stays
    if study.source is not None:
        record["source"] = {"sha256": study.source.sha256}  # not where it lies, nor its text
    return record | {"store_version": store.STORE_VERSION}


def differences(old, new, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two study records."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".")]


def check_same_study(out: Path, study: StudySpec) -> None:
    """Refuse to run a study into a folder made by other settings: the way on is another --out,
    or --set-aside, which moves the earlier study's files and nets out of the way."""
    if not (out / "study.json").is_file():
        return
    try:
        existing = json.loads((out / "study.json").read_text())
    except (OSError, json.JSONDecodeError):
        existing = None
    if not isinstance(existing, dict):
        raise FolderError(
            f"{out / 'study.json'} cannot be read; give another --out, or --set-aside to move "
            "the folder's study and nets aside"
        )
    if existing.get("store_version") != store.STORE_VERSION:
        raise FolderError(store.other_version(out, existing.get("store_version")))
    # free text (how verdicts are shown, names, the description) does not make another study
    for key in ("report", "class_names", "description"):
        existing.pop(key, None)
    changed = differences(existing, study_record(study) | {"description": None})
    changed = [key for key in changed if key != "description"]
    if changed:
        shown = ", ".join(changed[:4]) + (
            f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        )
        if "train.precision" in changed:  # "auto" resolves per machine (resolve_precision)
            shown += (
                f"; its nets trained in {existing.get('train', {}).get('precision')}, this "
                f"device gives {study.train.precision}: to go on with its nets here, set "
                "train.precision to theirs in the study file"
            )
        raise FolderError(
            f"{out} holds study {existing.get('name')!r} with other settings ({shown}); give "
            f"another --out, or add --set-aside to move its study files and the nets this "
            f"study does not share into {out / SET_ASIDE}/ (nets of the same settings are kept)"
        )


def set_aside(out: Path, jobs: list) -> Path | None:
    """Move the folder's earlier study (its files and the job folders the new plan does not
    have) into <out>/set-aside/<UTC time>/, so that no net of other settings stays beside the
    new study's. Nets the new plan shares (same ids: same settings) stay where they are."""
    if not (out / "study.json").is_file():
        return None
    aside = out / SET_ASIDE / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (aside / "jobs").mkdir(parents=True, exist_ok=True)
    planned = {job.id for job in jobs}
    for folder in sorted((out / "jobs").glob("*")):
        if folder.is_dir() and folder.name not in planned:
            folder.rename(aside / "jobs" / folder.name)
    for name in (
        "study.toml",
        "study.json",
        LOCATION,
        store.PLAN,
        "results.csv",
        "report",
    ):
        if (out / name).exists():
            (out / name).rename(aside / name)
    return aside


def write_study_files(out: Path, path: Path, study: StudySpec, jobs: list) -> None:
    """out/study.toml (the file as given), study.json and plan.json."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        text = path.read_text()  # the folder's own study.toml, for `estimate DIR`
        if path.resolve() != (out / "study.toml").resolve():
            (out / "study.toml").write_text(text)
            # the study file's folder (its model file, hf folder and checkpoint are relative to
            # it) and where the data lay: `estimate DIR` and `status` plan the study again
            data = str(Path(study.data.path).resolve()) if study.data.path else None
            where = {"folder": str(path.resolve().parent), "data": data}
            store.write_json(out / LOCATION, where)
        # beside the settings, what the report shows but no net depends on: how verdicts
        # are decided, and the classes' names (the report names splits by them)
        shown = {"report": asdict(study.report), "class_names": list(class_names(study.data))}
        store.write_json(out / "study.json", study_record(study) | shown)
        store.write_plan(out, jobs)
    except OSError as e:
        raise FolderError(
            f"cannot write to --out {out}: {e.strerror}; choose a writable folder"
        ) from None


def study_folder(out: Path) -> Path:
    """Where the study file of an output folder lay when it ran (paths in it are relative to
    that folder)."""
    try:
        return Path(json.loads((out / LOCATION).read_text())["folder"])
    except (OSError, ValueError, KeyError, TypeError):
        raise FolderError(
            f"{out / LOCATION} is missing or unreadable: give a folder made by 'run', or run "
            "the study file again into it"
        ) from None


def study_data_path(out: Path) -> str | None:
    """Where an output folder's data lay when it ran (None: the data set's default place)."""
    try:
        return json.loads((out / LOCATION).read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None
