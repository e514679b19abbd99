"""The result store: one folder per job; the filesystem is the only state.

<out>/jobs/<id>/spec.json      the JobSpec and code version, written first
               /results.jsonl   one JSON line per evaluation, each carrying job id and spec
               /model.safetensors  final weights (conv1.weight, ...); folders written
                                before safetensors hold model.pt (torch.save) instead
               /log.txt         human log
               /record.json     the final record
               /done            written last, atomically: the job is DONE
<out>/results.csv               every finished job, one row each, gathered from the folders
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DONE, INCOMPLETE, NOT_LAUNCHED = "done", "incomplete", "not launched"

RESULTS_COLUMNS = (
    "job_id",
    "study",
    "split",
    "split_kind",
    "source",
    "target",
    "treatment",
    "n",
    "fine_tuned",
    "seed",
    "n_layers",
    "status",
    "top1",
    "top1_best_k",
    "val_top1",
    "n_train_per_class",
    "train_top1",
    "epochs",
    "seconds",
    "model",
    "weights",
    "source_trained_on",  # what a pretrained source "S" was trained on ([source] trained_on)
)
# Columns that older records lack: every training image (k = 0), no train-set score, no source.
RESULTS_DEFAULTS = {"n_train_per_class": 0, "train_top1": float("nan"), "source_trained_on": ""}


def job_dir(out: Path, job_id: str) -> Path:
    return Path(out) / "jobs" / job_id


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and os.replace, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


WEIGHTS = "model.safetensors"  # the format model hubs share: tensors only, no code runs on load
LEGACY_WEIGHTS = "model.pt"  # torch.save pickles of earlier versions, read with weights_only=True


class DamagedError(ValueError):
    """A file of a finished job that cannot be read; the message says which and what to do."""


def weights_file(folder: Path) -> Path:
    """The weights of a job folder: model.safetensors, or an earlier version's model.pt."""
    folder = Path(folder)
    legacy = folder / LEGACY_WEIGHTS
    return legacy if legacy.is_file() and not (folder / WEIGHTS).is_file() else folder / WEIGHTS


def save_weights(state: dict, path: Path) -> None:
    """A state_dict as safetensors, atomically (a reader never sees half a file)."""
    from safetensors.torch import save_file  # lazily: the report reads records without torch

    tmp = Path(path).with_name(Path(path).name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(tmp))
    os.replace(tmp, path)


def load_weights(path: Path) -> dict:
    """The tensors of a weights file (.safetensors, or .pt read without running its code)."""
    path = Path(path)
    if not path.is_file():
        raise DamagedError(f"{path}: no such weights file")
    import torch  # lazily, and outside the try: a missing torch is not a damaged file
    from safetensors.torch import load_file

    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    # Both readers raise many types on a damaged file (safetensors, pickle, zip, runtime
    # errors); to us each means the same, and their messages give advice that does not apply.
    except Exception as e:  # noqa: BLE001
        raise DamagedError(f"{path}: damaged weights file ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise DamagedError(f"{path}: holds no state_dict")
    return state


def job_state(out: Path, job_id: str) -> str:
    folder = job_dir(out, job_id)
    if (folder / "done").exists():
        return DONE
    return INCOMPLETE if folder.exists() else NOT_LAUNCHED


def mark_done(folder: Path, record: dict) -> None:
    write_json(folder / "record.json", record)
    write_atomic(folder / "done", "")


def load_records(out: Path) -> list[dict]:
    """The final record of every DONE job, sorted by job id."""
    records = []
    for done in sorted((Path(out) / "jobs").glob("*/done")):
        try:
            records.append(json.loads((done.parent / "record.json").read_text()))
        except (OSError, json.JSONDecodeError) as e:  # a folder tampered with by hand
            log.warning("skipping %s: its record cannot be read (%s)", done.parent, e)
    return records


def write_results_csv(out: Path) -> Path:
    """Gather every finished job into <out>/results.csv, one row each."""
    path = Path(out) / "results.csv"
    rows = [
        {c: _csv_value(r[c] if c in r else RESULTS_DEFAULTS[c]) for c in RESULTS_COLUMNS}
        for r in load_records(out)
    ]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RESULTS_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def _csv_value(value):
    return str(value).lower() if isinstance(value, bool) else value
