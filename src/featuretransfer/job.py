"""run_job(spec, out): one network of a study, from its spec to a DONE folder.

The one function every executor calls. It reads the data, takes the target half of the split,
builds the net (copying and freezing layers from its parent's saved weights where the treatment
says so), trains, evaluates, and records. A DONE job is left alone; an unfinished folder is
cleared and the job redone from scratch.

Seeds: the init of every new layer and the dropout stream come from seed_hash(job id, "init"),
the data order from seed_hash(job id, "order"); the job id hashes every scientific field, so the
same spec gives the same numbers and two treatments never share a random stream by accident.
"""

from __future__ import annotations

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
from featuretransfer.config import JobSpec, seed_hash
from featuretransfer.datasets import load_dataset
from featuretransfer.models import LayeredNet, build_model
from featuretransfer.splits import relabel
from featuretransfer.train import Images, Progress, best_k_mean, evaluate, prefix_features, train
from featuretransfer.treatments import TreatmentError, check_cut, copy_layers, freeze

log = logging.getLogger(__name__)
NAN = float("nan")


class MissingParentError(RuntimeError):
    """A treatment whose base net has not finished."""


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


def target_data(spec: JobSpec) -> tuple[Images, Images, Images, tuple[int, ...]]:
    """Train, validation and test images of the target half, labels remapped to 0..k-1."""
    dataset = load_dataset(spec.data)
    classes = spec.split.classes(spec.target)

    def subset(x: torch.Tensor, y: torch.Tensor, per_class: int = 0) -> Images:
        mask, labels = relabel(y, classes)
        x = x[mask]
        if per_class:  # the first k of each class: nested, so a larger k only adds images
            rank = torch.zeros_like(labels)
            for c in range(len(classes)):
                rank[labels == c] = torch.arange(int((labels == c).sum()))
            x, labels = x[rank < per_class], labels[rank < per_class]
        return Images(
            x.contiguous(), labels, dataset.pixel_mean, dataset.pixel_std, spec.train.crop
        )

    per_class = spec.data.n_train_per_class
    return (
        subset(dataset.train_x, dataset.train_y, per_class),
        subset(dataset.val_x, dataset.val_y),
        subset(dataset.test_x, dataset.test_y),
        classes,
    )


def build_net(spec: JobSpec, n_classes: int, image_shape: tuple[int, ...], out: Path) -> LayeredNet:
    """The net of `spec` before training: fresh, or with layers 1..n from its parent.

    The net sees `train.crop` x `train.crop` windows where the study crops; its last layer has
    `net.n_outputs` outputs where given (the original's 1000-way fc8), else one per class.
    """
    if spec.net.n_outputs and spec.net.n_outputs < n_classes:
        raise TreatmentError(
            f"model.n_outputs = {spec.net.n_outputs} is fewer than the {n_classes} classes of "
            f"half {spec.target}; give at least {n_classes}, or 0 for one output per class"
        )
    model = build_model(
        spec.net,
        spec.net.n_outputs or n_classes,
        seed_hash(spec.id, "init"),
        in_channels=image_shape[0],
        image_size=spec.train.crop or image_shape[1],
    )
    if spec.treatment == "base":
        return model
    check_cut(model, spec.n_copied)
    parent = spec.parent()
    if parent is not None:
        folder = store.job_dir(out, parent.id)
        if store.job_state(out, parent.id) != store.DONE:
            raise MissingParentError(
                f"{spec.display_name} needs base{parent.target} ({parent.id}), which is not "
                f"done in {out}: run the study so that base nets train first"
            )
        try:
            state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as e:
            raise MissingParentError(
                f"{spec.display_name}: the checkpoint of its parent, {folder / 'model.pt'}, "
                f"cannot be read ({type(e).__name__}); delete {folder} and run the study again"
            ) from None
        copy_layers(state, model, spec.n_copied)
    if not spec.fine_tune:
        freeze(model, spec.n_copied)
    return model


def on_device(datas: tuple[Images, ...], device: str) -> tuple[Images, ...]:
    """The data kept on a GPU where they fit (no copy per batch); on the host otherwise."""
    if torch.device(device).type == "cpu":
        return datas
    try:
        return tuple(data.to(device) for data in datas)
    except torch.cuda.OutOfMemoryError:
        log.warning("the data do not fit on %s; batches are copied from host memory", device)
        torch.cuda.empty_cache()
        return datas


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


def cache_cut(model: LayeredNet, spec: JobSpec) -> int:
    """How many frozen layers to run once over the data instead of at every step (0: none).

    Frozen layers whose training-mode output is deterministic give the same features every
    epoch; the rest of a frozen prefix (fc6/fc7 with dropout) runs per step, without autograd.
    """
    if spec.fine_tune or spec.treatment == "base" or spec.train.augments:
        return 0  # with random crops or mirrors the prefix's output differs every epoch
    return min(spec.n_copied, model.n_deterministic)


def run_job(
    spec: JobSpec,
    out: Path,
    progress: Progress | None = None,
    device: str = "cpu",
    cache_prefix: bool = True,
) -> Path:
    """Train and record the net of `spec` under `out`; return its folder.

    An unfinished folder with a checkpoint resumes from it; without one it is cleared and the
    job starts again. Either way the result is the one an uninterrupted run gives. With
    `cache_prefix`, frozen layers are computed once (`cache_cut`): the same result, faster.
    """
    out = Path(out)
    folder = store.job_dir(out, spec.id)
    if store.job_state(out, spec.id) == store.DONE:
        return folder
    resume = load_checkpoint(folder)
    if resume is None and folder.exists():  # unfinished, nothing to go on from
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec_dict = asdict(spec) | {"job_id": spec.id, "treatment": spec.treatment}
    if resume is None:
        store.write_json(folder / "spec.json", spec_dict | {"code": code_version()})

    started = time.perf_counter() - (resume["seconds"] if resume else 0.0)
    train_data, val_data, test_data, classes = target_data(spec)
    model = build_net(spec, len(classes), tuple(train_data.x.shape[1:]), out)
    model = model.to(device, memory_format=model.memory_format)
    train_data, val_data, test_data = on_device((train_data, val_data, test_data), device)
    cut = cache_cut(model, spec) if cache_prefix else 0
    if cut:
        train_data, val_data, test_data = (
            prefix_features(model, data, cut, device) for data in (train_data, val_data, test_data)
        )
    torch.manual_seed(seed_hash(spec.id, "init"))  # dropout
    history = resume["history"] if resume else []

    def save_state(state: dict) -> None:
        torch.save(state | {"seconds": time.perf_counter() - started}, folder / "checkpoint.tmp")
        (folder / "checkpoint.tmp").replace(folder / "checkpoint.pt")

    with open(folder / "log.txt", "a") as logfile, open(folder / "results.jsonl", "w") as lines:

        def jsonl(metrics: dict) -> str:  # self-describing: every line carries id and spec
            return json.dumps({"job_id": spec.id, **metrics, "spec": spec_dict}) + "\n"

        def on_progress(step: int, total: int, metrics: dict) -> None:
            if metrics:
                lines.write(jsonl(metrics))
                lines.flush()
                logfile.write(f"epoch {metrics['epoch']}: {json.dumps(metrics)}\n")
            if progress:
                progress(step, total, metrics)

        lines.writelines(jsonl(m) for m in history)  # rewritten whole: no line lost or doubled
        logfile.write(
            f"{spec.display_name} {spec.id}"
            f"{f' resumed after epoch {len(history)}' if resume else ''}\n"
        )
        history, diverged = train(
            model,
            train_data,
            val_data,
            spec.train,
            seed_hash(spec.id, "order"),
            device,
            on_progress,
            resume,
            save_state,
            start=cut,
        )
        precision = spec.train.precision
        top1 = float("nan") if diverged else evaluate(model, test_data, device, cut, precision)
        # how well a base net fits its own training images (the data-volume experiment's gap)
        measure_fit = spec.treatment == "base" and not diverged
        train_top1 = evaluate(model, train_data, device, 0, precision) if measure_fit else NAN
        logfile.write(f"test top1 {top1:.4f}{' (diverged)' if diverged else ''}\n")

    torch.save(model.state_dict(), folder / "model.tmp")
    (folder / "model.tmp").replace(folder / "model.pt")
    val_accs = [h["val_acc"] for h in history]
    record = {
        "job_id": spec.id,
        "study": spec.study,
        "name": spec.display_name,
        "split": spec.split.name,
        "split_kind": spec.split.kind,
        "source": "" if spec.source == "random" else spec.source,
        "target": spec.target,
        "treatment": spec.treatment,
        "n": spec.n_copied,
        "fine_tuned": spec.fine_tune,
        "seed": spec.seed,
        "n_layers": model.n_layers,
        "status": "diverged" if diverged else "done",
        "top1": top1,
        "top1_best_k": best_k_mean(val_accs, spec.train.best_k),
        "train_top1": train_top1,
        "n_train_per_class": spec.data.n_train_per_class,
        "val_top1": val_accs[-1] if val_accs else float("nan"),
        "epochs": len(history),
        "seconds": round(time.perf_counter() - started, 2),
        "model": spec.net.name,
        "weights": str(Path("jobs") / spec.id / "model.pt"),
        # label i of this net is class classes[i] of the data set
        "classes": list(classes),
        "history": history,
        "spec": spec_dict,
    }
    store.mark_done(folder, record)
    (folder / "checkpoint.pt").unlink(missing_ok=True)  # only a DONE folder may lose it
    return folder


__all__ = ["run_job", "MissingParentError", "TreatmentError"]
