"""The files of one job while it runs (JobFolder): spec.json first, the log, one results.jsonl
line per epoch, checkpoint.pt after each period, a heartbeat, and at the end the weights, the
record (record.py's results.csv row and more) and the done marker, through the store. Also what
a net's float results depend on beyond its spec (runtime: threads, device, stacked nets), which
the record keeps.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import shutil
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import torch

from featuretransfer import store
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.record import Record
from featuretransfer.run.images import Images, evaluate
from featuretransfer.run.interrupt import Interrupted
from featuretransfer.run.train import Progress, best_k_mean
from featuretransfer.specs import JobSpec

log = logging.getLogger(__name__)
NAN = float("nan")
RUNTIME_KEYS = ("threads", "device", "fused")


def code_version() -> dict:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return {"git_sha": sha or None, "torch": torch.__version__}


def runtime(device: str, fused: int = 1) -> dict:
    """What a net's float results depend on beyond its spec: the torch threads of its process
    (the reduction order of every sum), the device, and how many nets trained in its pass
    (a stacked pass sums in another order). Not in the job id: a rerun under other settings
    is the same experiment, its numbers equal only to float tolerance."""
    kind = torch.device(device).type
    name = f"cuda ({torch.cuda.get_device_name(torch.device(device))})" if kind == "cuda" else kind
    return {"threads": torch.get_num_threads(), "device": name, "fused": fused}


def runtime_text(runtimes: list[dict], key: str) -> str:
    """One runtime setting over a net's runs: "2", or "2+1" where a resumed run changed it."""
    values = [str(r[key]) for r in runtimes]
    return "+".join(v for i, v in enumerate(values) if i == 0 or v != values[i - 1])


def load_checkpoint(folder: Path) -> dict | None:
    """The state an interrupted run of this job saved after its last full epoch, if readable."""
    path = folder / "checkpoint.pt"
    if not (folder / "spec.json").is_file() or not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as e:
        log.warning("%s: unreadable checkpoint (%s); starting the job again", path, e)
        return None


class JobFolder:
    """The files of one job while it runs: spec.json, log.txt, results.jsonl, checkpoint.pt;
    `finish` adds model.safetensors, record.json and the done marker. An unfinished folder with a
    readable checkpoint resumes from it (`resume`); without one, or when `fresh`, it is cleared.
    """

    def __init__(
        self, spec: JobSpec, out: Path, fresh: bool = False, device: str = "cpu", fused: int = 1
    ):
        self.spec, self.folder = spec, store.job_dir(out, spec.id)
        self.resume = None if fresh else load_checkpoint(self.folder)
        if self.resume is None and self.folder.exists():  # unfinished, nothing to go on from
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.spec_dict = asdict(spec) | {"job_id": spec.id, "treatment": spec.treatment}
        # the settings of each run that trained part of this net (one unless resumed elsewhere)
        self.runtimes = list(self.resume.get("runtimes", [])) if self.resume else []
        if not self.runtimes or self.runtimes[-1] != runtime(device, fused):
            self.runtimes.append(runtime(device, fused))
        if self.resume is None:
            extra = {"code": code_version(), "runtime": self.runtimes[0]}
            store.write_json(self.folder / "spec.json", self.spec_dict | extra)
        self.started = time.perf_counter() - (self.resume["seconds"] if self.resume else 0.0)
        # the weights its layers 1..n were copied from: if the parent is ever redone into other
        # weights, this net is stale (store.states) and is redone too
        parent = spec.parent()
        self.parent_sha = (self.resume or {}).get("parent_weights_sha256") or (
            store.file_sha256(store.weights_file(store.job_dir(out, parent.id)))
            if parent is not None and store.weights_file(store.job_dir(out, parent.id)).is_file()
            else None
        )
        self.history = self.resume["history"] if self.resume else []
        self.logfile = open(self.folder / "log.txt", "a")
        self.lines = open(self.folder / "results.jsonl", "w")
        self.lines.writelines(map(self._jsonl, self.history))  # whole: no line lost or doubled
        resumed = f" resumed after epoch {len(self.history)}" if self.resume else ""
        if self.resume and "epoch_step" in self.resume:  # stopped inside an epoch
            epoch, step = len(self.history) + 1, self.resume["epoch_step"]
            resumed = f" resumed after {step} steps of epoch {epoch}"
        self.logfile.write(f"{spec.display_name} {spec.id}{resumed}\n")

    def __enter__(self) -> JobFolder:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is Interrupted:
            self.logfile.write(f"interrupted: {error}; the checkpoint is kept\n")
        self.logfile.close()
        self.lines.close()

    def _jsonl(self, metrics: dict) -> str:  # self-describing: every line carries id and spec
        return json.dumps({"job_id": self.spec.id, **metrics, "spec": self.spec_dict}) + "\n"

    def progress(self, forward: Progress | None) -> Progress:
        """A progress callback that also writes each epoch's metrics to the job's files."""

        epoch, beaten = len(self.history) + 1, 0.0  # the period being trained; last heartbeat

        def on_progress(step: int, total: int, metrics: dict) -> None:
            nonlocal epoch, beaten
            if metrics:
                self.lines.write(self._jsonl(metrics))
                self.lines.flush()
                self.logfile.write(f"epoch {metrics['epoch']}: {json.dumps(metrics)}\n")
                self.logfile.flush()
                epoch = metrics["epoch"] + 1
            if metrics or time.monotonic() - beaten > store.HEARTBEAT_SECONDS:
                store.write_heartbeat(self.folder, min(epoch, self.spec.train.epochs), step, total)
                beaten = time.monotonic()
            if forward:
                forward(step, total, metrics)

        return on_progress

    def save_state(self, state: dict) -> None:
        seconds = time.perf_counter() - self.started
        state = state | {
            "seconds": seconds,
            "runtimes": self.runtimes,
            "parent_weights_sha256": self.parent_sha,
        }
        torch.save(state, self.folder / "checkpoint.tmp")
        (self.folder / "checkpoint.tmp").replace(self.folder / "checkpoint.pt")

    def finish(
        self,
        model: LayeredNet,
        history: list[dict],
        diverged: bool,
        test_data: Images,
        train_data: Images,
        classes: tuple[int, ...],
        device: str,
        cut: int = 0,
    ) -> Path:
        """Score the trained net, save it and its record, and mark the job DONE."""
        spec, precision = self.spec, self.spec.train.precision
        top1 = NAN if diverged else evaluate(model, test_data, device, cut, precision)
        # how well the net fits its own training images (the train-test gap: overfitting, and
        # whether a net converged); on the cached features where its frozen layers were cached
        train_top1 = NAN if diverged else evaluate(model, train_data, device, cut, precision)
        self.logfile.write(f"test top1 {top1:.4f}{' (diverged)' if diverged else ''}\n")
        store.save_weights(model.state_dict(), self.folder / store.WEIGHTS)
        val_accs = [h["val_acc"] for h in history]
        row = Record(  # the results.csv row: record.py's schema
            job_id=spec.id,
            study=spec.study,
            split=spec.split.name,
            split_kind=spec.split.kind,
            source=spec.source,
            target=spec.target,
            treatment=spec.treatment,
            n_copied=spec.n_copied,
            fine_tune=spec.fine_tune,
            seed=spec.seed,
            role=spec.role,
            n_layers=model.n_layers,
            status="diverged" if diverged else "done",
            top1=top1,
            top1_best_k=best_k_mean(val_accs, spec.train.best_k),
            val_acc=val_accs[-1] if val_accs else NAN,
            n_train_per_class=spec.data.n_train_per_class,
            train_top1=train_top1,
            epochs=len(history),
            precision=spec.train.precision,  # "auto" resolved: what the net trained in
            seconds=round(time.perf_counter() - self.started, 2),
            model=spec.net.name,
            weights=str(Path("jobs") / spec.id / store.WEIGHTS),
            # "2", or "2+1" for a net resumed under another thread count: see runtime()
            **{key: runtime_text(self.runtimes, key) for key in RUNTIME_KEYS},
            source_trained_on=spec.pretrained.trained_on if spec.pretrained else "",
            n_classes=len(classes),
            n_test=len(test_data.y),
            n_parameters=sum(p.numel() for p in model.parameters()),
            n_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        )
        record = dataclasses.asdict(row) | {
            "name": spec.display_name,
            **store.weights_identity(self.folder / store.WEIGHTS),
            "parent_job_id": spec.parent().id if spec.parent() else None,
            "parent_weights_sha256": self.parent_sha,
            "runtimes": self.runtimes,
            "classes": list(classes),  # label i of this net is class classes[i] of the data set
            "history": history,
            "spec": self.spec_dict,
        }
        store.mark_done(self.folder, record)
        (self.folder / "checkpoint.pt").unlink(missing_ok=True)  # only a DONE folder may lose it
        return self.folder
