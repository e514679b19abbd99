"""What `plan` and `status` print of a study and its output folder: each planned net with its
state, and a folder's counts by state with what the finished nets say about themselves
(precision, divergence, nets at chance, mixed runtime settings). Reads the store; trains nothing.
"""

from __future__ import annotations

from pathlib import Path

from featuretransfer import store
from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import class_names
from featuretransfer.report.evidence import near_chance
from featuretransfer.study import lock
from featuretransfer.study.plan import needs, plan_study
from featuretransfer.study.studyspec import StudySpec


def split_lines(study: StudySpec) -> list[str]:
    """Each split's classes by name (by index where the names cannot be had)."""
    try:
        names = class_names(study.data)
    except DataError:
        names = None
    lines = []
    for split in study.splits:
        halves = [
            f"{half} = " + ", ".join(names[c] if names else str(c) for c in split.classes(half))
            for half in ("A", "B")
        ]
        lines.append(f"split {split.name} ({split.kind}): {'; '.join(halves)}")
    return lines


def plan_lines(study: StudySpec, out: Path) -> list[str]:
    """`plan`'s table: each net in dependency order with its treatment, cut, images per class,
    the net it needs, and its state in `out`."""
    jobs = plan_study(study)
    name_of = {job.id: job.display_name for job in jobs}
    states = store.states(out, store.plan_entries(jobs))
    width = max(len(name) for name in name_of.values())
    lines = [f"study {study.name}: {len(jobs)} nets in dependency order, output in {out}"]
    lines += split_lines(study)
    header = f"{'name':{width}}  {'treatment':9} {'n':>2} {'fine_tune':9} {'k':>5}"
    lines.append(f"{header}  {'needs':{width}}  {'state':12}  id")
    for job in jobs:
        k = job.data.n_train_per_class or "all"
        lines.append(
            f"{job.display_name:{width}}  {job.treatment:9} {job.n_copied:>2} "
            f"{str(job.fine_tune).lower():9} {k:>5}  "
            f"{','.join(name_of[n] for n in needs(job)) or '-':{width}}  "
            f"{states[job.id]:12}  {job.id}"
        )
    return [*lines, f"{len(jobs)} jobs"]


def status_lines(out: Path, plan: list[dict]) -> list[str]:
    """`status`: how many of the folder's planned nets are done, damaged, stale, running,
    stopped or not launched (with their names), the precision they trained in, and the nets
    that diverged, sit at chance or trained under mixed settings."""
    lines = []
    states = store.states(out, plan)
    if lock.is_locked(out):
        lines.append(f"being written by {lock.describe(lock.holder(out))}")
    beats = {  # an unfinished net that a live process trains now
        e["id"]: beat
        for e in plan
        if states[e["id"]] == store.INCOMPLETE and (beat := store.running(out, e["id"]))
    }
    for state in (store.DONE, store.DAMAGED, store.STALE, store.INCOMPLETE, store.NOT_LAUNCHED):
        names = [e["name"] for e in plan if states[e["id"]] == state and e["id"] not in beats]
        if state == store.INCOMPLETE:
            lines.append(f"running: {len(beats)}")
            for entry in (e for e in plan if e["id"] in beats):
                beat = beats[entry["id"]]
                lines.append(
                    f"  {entry['name']}: epoch {beat['epoch']}, step {beat['step']} of "
                    f"{beat['total']} (pid {beat['pid']} on {beat['host']})"
                )
        if state in (store.DONE, store.INCOMPLETE, store.NOT_LAUNCHED) or names:
            lines.append(f"{state}: {len(names)}")
        if state != store.DONE and names:
            lines.append("  " + " ".join(names))
        if state == store.INCOMPLETE and names:
            lines.append("  (stopped nets: the next 'run' goes on from their checkpoints)")
    records = store.load_records(out, plan)
    if precisions := sorted({str(r.get("precision", "fp32")) for r in records}):
        lines.append(f"precision: {', '.join(precisions)}")  # what the finished nets trained in
    diverged = [r["name"] for r in records if r["status"] == "diverged"]
    if diverged:
        lines.append(f"diverged: {len(diverged)}\n  " + " ".join(diverged))
    if at_chance := [r["name"] for r in records if near_chance(r)]:  # learnt ~nothing
        lines.append(f"at or near chance (left out of the verdicts): {len(at_chance)}")
        lines.append("  " + " ".join(at_chance))
    lines += mixed_runtime_lines(records)
    if others := store.other_jobs(out, plan):
        lines.append(f"not part of this study (other settings, never pooled): {len(others)}")
        lines.append("  " + " ".join(others))
    if any(states[e["id"]] in (store.DAMAGED, store.STALE) for e in plan):
        lines.append("damaged and stale nets are redone by the next 'run'")
    return lines


def mixed_runtime_lines(records: list[dict]) -> list[str]:
    """A warning per setting (threads, device, fused) that differs between the finished nets."""
    return [
        f"mixed {key}: "
        + ", ".join(f"{value} ({count} nets)" for value, count in counts.items())
        + "; each net's numbers come back bit for bit only under its own setting "
        "(docs/running.md, 'Reproducibility')"
        for key, counts in store.runtime_mix(records).items()
    ]
