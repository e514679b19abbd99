"""The result store: one folder per job; the filesystem is the only state.

<out>/jobs/<id>/spec.json      the JobSpec and code version, written first
               /results.jsonl   one JSON line per evaluation, each carrying job id and spec
               /model.safetensors  final weights (conv1.weight, ...)
               /log.txt         human log
               /record.json     the final record
               /heartbeat.json  while it trains: epoch, step, pid, host, time (status reads it)
               /done            written last, atomically: the job is DONE
<out>/plan.json                 the store version and the study's jobs (ids, names, parents)
<out>/results.csv               every finished job of the plan, one row each (record.Record's
                                columns), from the folders
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import socket
import time
from pathlib import Path

from featuretransfer.record import COLUMNS

log = logging.getLogger(__name__)

# The version of an output folder's layout (plan.json, records, weights): a folder of another
# version is refused in one line rather than read half-right. Bump it for any change of layout.
STORE_VERSION = 1

DONE, INCOMPLETE, NOT_LAUNCHED = "done", "incomplete", "not launched"
DAMAGED = "damaged"  # marked done, but its record or weights cannot be read: redone by `run`
STALE = "stale"  # done, but its parent was redone into other weights: redone by `run`
PLAN = "plan.json"


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


class StoreError(ValueError):
    """An output folder this version cannot read; one line, exit code 2."""


class DamagedError(ValueError):
    """A file of a finished job that cannot be read; the message says which and what to do."""


def weights_file(folder: Path) -> Path:
    """The weights of a job folder."""
    return Path(folder) / WEIGHTS


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


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes: of weights files, a user's model code, a checkpoint."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def weights_identity(path: Path) -> dict:
    """What a record keeps of its weights file: its SHA-256 and size."""
    return {"weights_sha256": file_sha256(path), "weights_bytes": Path(path).stat().st_size}


def read_record(out: Path, job_id: str) -> dict | None:
    """The record of a DONE job whose record and weights are intact, else None.

    Intact: record.json parses, and the weights file is the one the record names (same size; the
    same SHA-256 unless its mtime is the one the `done` marker noted, so an untouched file is
    not read).
    """
    folder = job_dir(out, job_id)
    if not (folder / "done").exists():
        return None
    try:
        record = json.loads((folder / "record.json").read_text())
        weights = Path(out) / record["weights"]
        stat = weights.stat()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stat.st_size != record.get("weights_bytes"):
        return None
    try:
        noted = json.loads((folder / "done").read_text())["weights_mtime_ns"]
    except (OSError, ValueError, KeyError, TypeError):
        noted = None
    if stat.st_mtime_ns != noted and file_sha256(weights) != record["weights_sha256"]:
        return None
    return record


HEARTBEAT = "heartbeat.json"
HEARTBEAT_SECONDS = 5.0  # a training job writes its heartbeat at most this often
# A heartbeat from another host counts as a live job for this long: a job writes one every few
# seconds while it trains and after every evaluation (an epoch's evaluation of the largest nets
# takes minutes at most)
HEARTBEAT_FRESH = 600.0


def write_heartbeat(folder: Path, epoch: int, step: int, total: int) -> None:
    """What a running job is doing (its period, steps done of all), for `status`."""
    beat = {
        "epoch": epoch,
        "step": step,
        "total": total,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "time": time.time(),
    }
    write_atomic(Path(folder) / HEARTBEAT, json.dumps(beat))


def running(out: Path, job_id: str) -> dict | None:
    """The heartbeat of a job that is training now: written by a live process on this host, or
    recently (HEARTBEAT_FRESH) by one on another host; None for a job nobody trains."""
    try:
        beat = json.loads((job_dir(out, job_id) / HEARTBEAT).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(beat, dict) or (job_dir(out, job_id) / "done").exists():
        return None
    if beat.get("host") == socket.gethostname():
        try:
            os.kill(int(beat["pid"]), 0)
        except (ProcessLookupError, KeyError, ValueError, TypeError):
            return None
        except PermissionError:  # alive, another user's
            pass
        return beat
    return beat if time.time() - float(beat.get("time", 0)) < HEARTBEAT_FRESH else None


def _state(out: Path, job_id: str) -> str:
    """DONE (finished, its files intact), DAMAGED (marked done, but its record or weights cannot
    be read or are not the ones it wrote), INCOMPLETE (a folder without `done`), NOT_LAUNCHED."""
    folder = job_dir(out, job_id)
    if (folder / "done").exists():
        return DONE if read_record(out, job_id) is not None else DAMAGED
    return INCOMPLETE if folder.exists() else NOT_LAUNCHED


def copied_from_current_parent(out: Path, record: dict, parent_id: str | None) -> bool:
    """Whether a net's copied layers came from its parent's current weights: false after the
    parent was redone into other weights (the child then copied from weights that are gone)."""
    if parent_id is None or "parent_weights_sha256" not in record:
        return True
    parent = read_record(out, parent_id)
    return parent is not None and parent.get("weights_sha256") == record["parent_weights_sha256"]


def states(out: Path, plan: list[dict]) -> dict[str, str]:
    """The state of each job of a plan (plan.json's entries, or plan_entries of JobSpecs;
    parents first), read from disk, the one place every command reads it: DONE (finished, its
    files intact), DAMAGED (marked done, but its record or weights cannot be read or are not
    the ones it wrote), STALE (done, but its parent is done with other weights than those it
    copied), INCOMPLETE (a folder without `done`; `running` tells a live one) or NOT_LAUNCHED.
    Only the jobs of `plan` are returned."""
    found = {}
    for entry in plan:
        state, parent = _state(out, entry["id"]), entry.get("parent")
        if state == DONE and parent is not None:
            if parent not in found:  # a parent outside the plan given: read it too
                found[parent] = _state(out, parent)
            # a parent redone into other weights: the child copied weights that are gone (a
            # parent not done yet decides nothing: redone bit-identically, it keeps its child)
            if found[parent] == DONE and not copied_from_current_parent(
                out, read_record(out, entry["id"]), parent
            ):
                state = STALE
        found[entry["id"]] = state
    return {entry["id"]: found[entry["id"]] for entry in plan}


def is_current(out: Path, job) -> bool:
    """DONE, and (for a net with copied layers) copied from its parent's current weights, the
    parent DONE too: a job that `run` keeps. states() of the job and its parent."""
    parent = job.parent()
    found = states(out, plan_entries([parent, job] if parent else [job]))
    return found[job.id] == DONE and (parent is None or found[parent.id] == DONE)


def clear_job(out: Path, job_id: str) -> None:
    """Make a damaged or stale job's folder unfinished, so that `run` redoes it from scratch."""
    folder = job_dir(out, job_id)
    (folder / "done").unlink(missing_ok=True)
    (folder / "record.json").unlink(missing_ok=True)


def mark_done(folder: Path, record: dict) -> None:
    """Write the record, then the `done` marker, which notes when the weights were written (the
    record stays a function of the spec: no times in it but the training's seconds)."""
    write_json(folder / "record.json", record)
    weights = Path(folder).parent.parent / record["weights"] if "weights" in record else None
    stat = {"weights_mtime_ns": weights.stat().st_mtime_ns} if weights and weights.is_file() else {}
    write_atomic(folder / "done", json.dumps(stat))


def plan_entries(jobs: list) -> list[dict]:
    """What plan.json keeps of each job (a JobSpec): id, display name, labels, parent."""
    return [
        {
            "id": job.id,
            "name": job.display_name,
            "study": job.study,
            "split": job.split.name,
            "split_kind": job.split.kind,
            "role": job.role,
            "parent": job.parent().id if job.parent() else None,
        }
        for job in jobs
    ]


def write_plan(out: Path, jobs: list) -> None:
    """<out>/plan.json: the store's version and the study's jobs in dependency order, so that
    status, results.csv and the report know which nets are this study's without the data or
    the study file."""
    write_json(Path(out) / PLAN, {"store_version": STORE_VERSION, "jobs": plan_entries(jobs)})


def read_plan(out: Path) -> list[dict] | None:
    """The jobs of the folder's plan.json; None where there is none (no study ran here).
    Raises StoreError for a plan of another store version, or one that cannot be read."""
    path = Path(out) / PLAN
    try:
        plan = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise StoreError(f"{path} cannot be read ({e}); run the study again into it") from None
    version = plan.get("store_version") if isinstance(plan, dict) else None
    if version != STORE_VERSION:
        raise StoreError(other_version(out, version))
    return plan["jobs"]


def other_version(out: Path, version) -> str:
    """The one line for a folder that another version of featuretransfer wrote."""
    return (
        f"{out} was written by another version of featuretransfer (store version "
        f"{version if version is not None else 'before 1'}; this one reads {STORE_VERSION}): "
        "give another --out, or run the study with --set-aside to move its files aside"
    )


def load_records(out: Path, plan: list[dict] | None = None) -> list[dict]:
    """The final record of every DONE, intact job of `plan` (plan.json's entries; default: the
    folder's plan.json), in plan order. Each record is labelled by its plan entry (study, split
    name and kind, role), which a net shared by two studies may name differently; a net whose
    parent was redone into other weights is left out."""
    if plan is None:
        plan = read_plan(out)
    if plan is None:
        raise StoreError(f"{out} holds no study (no {PLAN}): give a folder made by 'run'")
    records = []
    for entry in plan:
        record = read_record(out, entry["id"])
        if record is None:
            if (job_dir(out, entry["id"]) / "done").exists():
                log.warning("%s is damaged: its record or weights cannot be read", entry["id"])
            continue
        if not copied_from_current_parent(out, record, record.get("parent_job_id")):
            continue
        for key in ("study", "split", "split_kind", "name", "role"):
            if key in entry:
                record[key] = entry[key]
        records.append(record)
    return records


def other_jobs(out: Path, plan: list[dict]) -> list[str]:
    """Ids of finished job folders under <out>/jobs that are not in `plan`: nets of other
    settings, never pooled with this study's."""
    planned = {entry["id"] for entry in plan}
    return sorted(
        p.parent.name for p in (Path(out) / "jobs").glob("*/done") if p.parent.name not in planned
    )


def write_results_csv(out: Path, plan: list[dict] | None = None) -> Path:
    """Gather the study's finished jobs into <out>/results.csv, one row each, in plan order."""
    path = Path(out) / "results.csv"
    rows = [{c: _csv_value(r[c]) for c in COLUMNS} for r in load_records(out, plan)]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
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
