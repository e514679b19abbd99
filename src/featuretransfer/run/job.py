"""run_job(spec, out): one network of a study, from its spec to a DONE folder.

The one function every executor calls. It reads the data, takes the target half of the split,
builds the net (copying and freezing layers from its parent's saved weights where the treatment
says so), trains, evaluates, and records. A DONE job is left alone; an unfinished folder is
cleared and the job redone from scratch.

Seeds: the init of every new layer comes from seed_hash(job id, "init"), the dropout stream from
seed_hash(job id, "dropout") and the data order from seed_hash(job id, "order"): three streams
that share no draws. The job id hashes every scientific field, so two treatments never share a
random stream by accident.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch

from featuretransfer import store
from featuretransfer.data.diskimages import IndexedImages, take
from featuretransfer.data.halves import half_of
from featuretransfer.data.registry import load_dataset
from featuretransfer.data.scaling import input_scaling
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.registry import MODELS, job_model
from featuretransfer.nets.treatments import (
    TreatmentError,
    check_cut,
    check_source,
    copy_layers,
    freeze,
)
from featuretransfer.nets.units import UnitNet, is_user_model
from featuretransfer.run.fused import train_fused
from featuretransfer.run.images import Images, prefix_features
from featuretransfer.run.interrupt import Interrupted, stop_requested
from featuretransfer.run.jobfolder import JobFolder, load_checkpoint
from featuretransfer.run.train import Progress, train
from featuretransfer.specs import SOURCE, JobSpec, seed_hash
from featuretransfer.study.source import SourceError, load_source

log = logging.getLogger(__name__)
NAN = float("nan")


class MissingParentError(RuntimeError):
    """A treatment whose base net has not finished."""


def target_data(spec: JobSpec) -> tuple[Images, Images, Images, tuple[int, ...]]:
    """Train, validation and test images of the target half, labels remapped to 0..k-1."""
    dataset = load_dataset(spec.data)
    classes = spec.split.classes(spec.target)

    def subset(x: torch.Tensor, y: torch.Tensor, per_class: int = 0) -> Images:
        index, labels = half_of(y, classes, per_class)
        x = take(x, index)
        x = x if isinstance(x, IndexedImages) else x.contiguous()
        return Images(x, labels, *input_scaling(spec.data, dataset), spec.train.crop)

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
    model = job_model(spec, image_shape, seed_hash(spec.id, "init"))
    if spec.treatment == "base":
        return model
    check_cut(model, spec.n_copied)
    if spec.source == SOURCE:  # layers 1..n from the pretrained checkpoint; its head dropped
        state = load_source(spec.pretrained)
        check_source(state, model)
        copy_layers(state, model, spec.n_copied)
    parent = spec.parent()
    if parent is not None:
        folder = store.job_dir(out, parent.id)
        if store.states(out, store.plan_entries([parent]))[parent.id] != store.DONE:
            raise MissingParentError(
                f"{spec.display_name} needs base{parent.target} ({parent.id}), which is not "
                f"done in {out}: run the study so that base nets train first"
            )
        try:
            state = store.load_weights(store.weights_file(folder))
        except store.DamagedError as e:
            raise MissingParentError(
                f"{spec.display_name}: its parent's weights cannot be read ({e}); delete "
                f"{folder} and run the study again"
            ) from None
        copy_layers(state, model, spec.n_copied)
    if not spec.fine_tune:
        freeze(model, spec.n_copied)
    return model


def check_models(jobs: list[JobSpec]) -> None:
    """Before any training: build each user model once per class count on the data's image
    shape (a factory that fails, units that name no submodule or miss a parameter, an output
    without one column per class), and check each pretrained checkpoint against the model.
    Raises ModelError or SourceError, one line naming the study key."""
    seen = set()
    for spec in jobs:
        n_classes = spec.net.n_outputs or len(spec.split.classes(spec.target))
        key = (spec.net, spec.data, spec.train.crop, n_classes, spec.pretrained)
        if key in seen or not (is_user_model(spec.net.name) or spec.pretrained):
            continue
        seen.add(key)
        shape = tuple(load_dataset(spec.data).train_x.shape[1:])
        model = job_model(spec, shape, 0)
        if spec.pretrained is not None:
            try:
                check_source(load_source(spec.pretrained), model)
            except TreatmentError as e:
                raise SourceError(f"{spec.pretrained.path}: {e}") from None


def on_device(datas: tuple[Images, ...], device: str) -> tuple[Images, ...]:
    """The data kept on a GPU where they fit (no copy per batch); on the host otherwise."""
    if torch.device(device).type == "cpu" or any(isinstance(d.x, IndexedImages) for d in datas):
        return datas  # images on disk are read per batch
    try:
        return tuple(data.to(device) for data in datas)
    except torch.cuda.OutOfMemoryError:
        log.warning("the data do not fit on %s; batches are copied from host memory", device)
        torch.cuda.empty_cache()
        return datas


def cache_cut(model: LayeredNet, spec: JobSpec) -> int:
    """How many frozen layers to run once over the data instead of at every step (0: none).

    Frozen layers whose training-mode output is deterministic give the same features every
    epoch; the rest of a frozen prefix (fc6/fc7 with dropout) runs per step, without autograd.
    """
    if spec.fine_tune or spec.treatment == "base" or spec.train.augments:
        return 0  # with random crops or mirrors the prefix's output differs every epoch
    if isinstance(model, UnitNet) and not model.composes:
        return 0  # the model's own forward runs whole (UnitNet said so once when built)
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
    if store.is_current(out, spec):
        return store.job_dir(out, spec.id)
    if stop_requested():  # launched just before a stop: not worth loading its data
        raise Interrupted(f"{spec.display_name}: stopped before it started")
    store.clear_job(out, spec.id)  # damaged, or copied from a parent since redone: redo it
    with JobFolder(spec, out, device=device) as job:
        train_data, val_data, test_data, classes = target_data(spec)
        model = build_net(spec, len(classes), tuple(train_data.x.shape[1:]), out)
        model = model.to(device, memory_format=model.memory_format)
        train_data, val_data, test_data = on_device((train_data, val_data, test_data), device)
        cut = cache_cut(model, spec) if cache_prefix else 0
        if cut:
            train_data, val_data, test_data = (
                prefix_features(model, data, cut, device, spec.train.precision)
                for data in (train_data, val_data, test_data)
            )
        torch.manual_seed(seed_hash(spec.id, "dropout"))
        history, diverged = train(
            model,
            train_data,
            val_data,
            spec.train,
            seed_hash(spec.id, "order"),
            device,
            job.progress(progress),
            job.resume,
            job.save_state,
            start=cut,
        )
        return job.finish(model, history, diverged, test_data, train_data, classes, device, cut)


def fuse_key(spec: JobSpec) -> tuple | None:
    """Jobs with the same key can train as one stacked model (`run_fused`); None: never fused.
    Nets that train every layer (base nets, "+" treatments) on the same images and schedule,
    and keep no running statistics (vmap cannot update batch norm's)."""
    if not (spec.treatment == "base" or spec.fine_tune):
        return None
    if spec.net.name not in MODELS:  # a user's model: fusion needs the layered forward
        return None
    if MODELS[spec.net.name].has_batch_norm:  # resnet18, vit: running statistics do not stack
        return None
    return (spec.data, spec.net, spec.train, spec.split.classes(spec.target))


def run_fused(
    specs: list[JobSpec],
    out: Path,
    progress: list[Progress | None] | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Train the nets of `specs` (one fuse_key) in one pass; the same records as run_job gives
    each alone, to float tolerance. Each job checkpoints in a lone run's format, so an
    interrupted one resumes alone. DONE jobs are left out; jobs with a checkpoint run alone."""
    out = Path(out)
    if len({fuse_key(s) for s in specs}) != 1 or fuse_key(specs[0]) is None:
        raise ValueError("run_fused needs jobs that train every layer on the same images")
    progress = progress or [None] * len(specs)
    if stop_requested():
        raise Interrupted(f"{len(specs)} nets: stopped before they started")
    todo = [(s, p) for s, p in zip(specs, progress) if not store.is_current(out, s)]
    fresh = [(s, p) for s, p in todo if load_checkpoint(store.job_dir(out, s.id)) is None]
    for spec, forward in todo:
        if all(spec is not f for f, _ in fresh):  # interrupted: goes on alone from its checkpoint
            run_job(spec, out, forward, device)
    if not fresh:
        return [store.job_dir(out, s.id) for s in specs]
    train_data, val_data, test_data, classes = target_data(fresh[0][0])
    shape = tuple(train_data.x.shape[1:])
    models = [build_net(s, len(classes), shape, out) for s, _ in fresh]
    models = [m.to(device, memory_format=m.memory_format) for m in models]
    train_data, val_data, test_data = on_device((train_data, val_data, test_data), device)
    with contextlib.ExitStack() as stack:
        jobs = [
            stack.enter_context(JobFolder(s, out, fresh=True, device=device, fused=len(fresh)))
            for s, _ in fresh
        ]
        callbacks = [job.progress(forward) for job, (_, forward) in zip(jobs, fresh)]

        def on_progress(step: int, total: int, metrics: list) -> None:
            for i, callback in enumerate(callbacks):
                callback(step, total, (metrics[i] if metrics else None) or {})

        results = train_fused(
            models,
            train_data,
            val_data,
            fresh[0][0].train,
            [seed_hash(s.id, "order") for s, _ in fresh],
            [seed_hash(s.id, "dropout") for s, _ in fresh],
            device,
            on_progress,
            lambda i, state: jobs[i].save_state(state),
        )
        for job, model, (history, diverged) in zip(jobs, models, results):
            job.finish(model, history, diverged, test_data, train_data, classes, device)
    return [store.job_dir(out, s.id) for s in specs]


__all__ = ["MissingParentError", "TreatmentError", "run_fused", "run_job"]
