"""Live curves: each net's per-epoch metrics as TensorBoard event files (`run --tensorboard`).

    pip install 'featuretransfer[tensorboard]'
    featuretransfer run STUDY.toml --tensorboard --out DIR
    tensorboard --logdir DIR/tensorboard

One run per net, named by its display name with the split as a folder (`s0/A3B+#0`; a job id
is added where two nets share a name, as data-volume base nets do). Scalars per epoch:
`val_acc`, `train_loss`, `lr`; when a net is done, `test_top1` at its last epoch. The events are
written in the process that runs the study, from the progress that every executor sends there,
so workers and Ray nodes need no TensorBoard; a net's finished record fills in any epoch whose
event was lost on the way (Ray sends progress without waiting). A net that trains again from an
earlier epoch (resumed, or restarted) purges its later events (`purge_step`), so a curve never
shows two runs at once. Nets done before the run (a rerun trains none of them) get their events
from their records (`add_finished`), unless they have events already. The writer is
torch.utils.tensorboard, which needs the `tensorboard` package (not TensorFlow); nothing here is
imported unless asked for.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from featuretransfer import store
from featuretransfer.specs import JobSpec

SCALARS = ("val_acc", "train_loss", "lr")  # keys of a history entry; the step is its epoch


class TensorBoardMissing(ImportError):
    """--tensorboard without the tensorboard package."""


def run_names(jobs: list[JobSpec]) -> dict[str, str]:
    """job id -> TensorBoard run (a folder below DIR/tensorboard), unique within the plan."""
    names = {job.id: job.display_name.replace(":", "/", 1) for job in jobs}
    repeated = Counter(names.values())
    return {i: f"{name}-{i}" if repeated[name] > 1 else name for i, name in names.items()}


class TensorBoardLog:
    """Event files under `folder`, one run per net of `jobs`; `update` and `finished` feed it."""

    def __init__(self, folder: Path, jobs: list[JobSpec], out: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TensorBoardMissing(
                "--tensorboard needs the tensorboard package: "
                "pip install 'featuretransfer[tensorboard]'"
            ) from None
        self.SummaryWriter = SummaryWriter
        self.folder, self.out = Path(folder), Path(out)
        self.names = run_names(jobs)
        self.plan = store.plan_entries(jobs)
        self.writers: dict = {}
        self.logged: dict[str, set[int]] = {}  # job id -> epochs written by this run
        self.done: set[str] = set()  # writers closed: a study of 768 nets holds few open

    def _writer(self, job_id: str, first_epoch: int):
        if job_id not in self.writers:
            # events of an earlier run at this epoch or later are hidden: this run redoes them
            self.writers[job_id] = self.SummaryWriter(
                str(self.folder / self.names[job_id]), purge_step=first_epoch
            )
            self.logged[job_id] = set()
        return self.writers[job_id]

    def _epoch(self, job_id: str, metrics: dict) -> None:
        epoch = metrics["epoch"]
        writer = self._writer(job_id, epoch)
        if epoch in self.logged[job_id]:
            return
        for key in SCALARS:
            writer.add_scalar(key, metrics[key], epoch)
        writer.flush()  # watched while it runs: each epoch on disk at once
        self.logged[job_id].add(epoch)

    def update(self, job_id: str, step: int, total: int, metrics: dict) -> None:
        """A progress event (job id, step, total, metrics); metrics are non-empty once an epoch
        ends."""
        if metrics and job_id in self.names and job_id not in self.done:  # late: already in
            self._epoch(job_id, metrics)

    def finished(self, job_id: str) -> None:
        """The net is DONE: write the epochs whose events never came, and its test top-1."""
        if job_id not in self.names:
            return
        try:
            record = json.loads((store.job_dir(self.out, job_id) / "record.json").read_text())
        except (OSError, json.JSONDecodeError):
            return
        history = record.get("history", [])
        # only after the last epoch written: an earlier step would read as a restart, and
        # TensorBoard would hide the epochs after it
        last = max(self.logged.get(job_id) or {0})
        for metrics in history:
            if metrics["epoch"] > last:
                self._epoch(job_id, metrics)
        if history:
            writer = self._writer(job_id, history[-1]["epoch"])
            writer.add_scalar("test_top1", record["top1"], history[-1]["epoch"])
        if job_id in self.writers:
            self.writers.pop(job_id).close()
        self.done.add(job_id)

    def add_finished(self) -> list[str]:
        """Events for the plan's nets that were done before this run (a rerun trains none of
        them, so no progress comes), from their records, where none are written yet. Returns
        lines that say what was written, and for which nets it could not be and why."""
        written, there, unreadable, failed = [], [], [], None
        for job_id, state in store.states(self.out, self.plan).items():
            if state != store.DONE:
                continue
            folder = self.folder / self.names[job_id]
            if any(folder.glob("events.out.tfevents.*")):
                there.append(job_id)
                continue
            record = store.read_record(self.out, job_id) or {}
            try:
                epochs = [(h["epoch"], [(k, h[k]) for k in SCALARS]) for h in record["history"]]
                top1 = record["top1"]
            except (KeyError, TypeError):
                epochs = []
            if not epochs:
                unreadable.append(job_id)
                continue
            try:
                writer = self.SummaryWriter(str(folder))
                for epoch, scalars in epochs:
                    for key, value in scalars:
                        writer.add_scalar(key, value, epoch)
                writer.add_scalar("test_top1", top1, epochs[-1][0])
                writer.close()
            except OSError as e:  # the folder cannot be written: no use trying the others
                failed = e
                break
            written.append(job_id)
        lines = []
        if written:
            lines.append(
                f"tensorboard: wrote the curves of {len(written)} nets done before this run "
                f"from their records into {self.folder}"
            )
        if unreadable:
            lines.append(
                f"tensorboard: no curves for {self._some(unreadable)}: their records hold no "
                "per-epoch history"
            )
        if failed:
            lines.append(f"tensorboard: cannot write events into {self.folder}: {failed}")
        if there and not lines:
            lines.append(f"tensorboard: the curves of {len(there)} done nets are in {self.folder}")
        return lines

    def _some(self, job_ids: list[str]) -> str:
        """The nets' display names, the first three of them."""
        shown = {entry["id"]: entry["name"] for entry in self.plan}
        names = [shown[i] for i in job_ids[:3]]
        more = f" and {len(job_ids) - 3} more" if len(job_ids) > 3 else ""
        return f"{len(job_ids)} done nets ({', '.join(names)}{more})"

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()
