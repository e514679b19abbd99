"""The result store: one folder per job; the filesystem is the only state.

<out>/jobs/<id>/spec.json      the JobSpec and code version, written first
               /results.jsonl   one JSON line per evaluation, each carrying job id and spec
               /model.pt        final state_dict (conv1.weight, ...)
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
    "threads",
    "device",
    "fused",
)
# Columns that older records lack: every training image (k = 0), no train-set score; where and
# how a net trained was not recorded before (empty: unknown).
RESULTS_DEFAULTS = {
    "n_train_per_class": 0,
    "train_top1": float("nan"),
    "threads": "",
    "device": "",
    "fused": "",
}


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


def runtime_mix(records: list[dict]) -> dict[str, dict[str, int]]:
    """For each of threads, device and fused that differ between `records` (or within a net
    resumed under another setting: "2+1"): value -> nets. Empty when every net trained under
    one setting (unrecorded values are left out): then a rerun under it gives the same bits."""
    mixed = {}
    for key in ("threads", "device", "fused"):
        counts: dict[str, int] = {}
        for r in records:
            if str(r.get(key, "")):
                counts[str(r[key])] = counts.get(str(r[key]), 0) + 1
        if len(counts) > 1 or any("+" in value for value in counts):
            mixed[key] = dict(sorted(counts.items()))
    return mixed


def _csv_value(value):
    return str(value).lower() if isinstance(value, bool) else value
