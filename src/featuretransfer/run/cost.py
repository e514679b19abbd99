"""What each net of a study costs to train, and the study's time to go weighted by those costs.

Nets of one study differ in cost by ten times: a base or "+" net trains every layer, a frozen
net trains only the layers above its copy and computes a cached prefix once (run.job.cache_cut).
In the default study a frozen A7B took 1.1 s and a base net 7.4 (docs/default-study/
results.csv), so an ETA that counts nets is off by as much. `job_flops` counts a net's forward
and backward FLOPs from what it trains (a small pure function); `prior_costs` measures each
model's layers once, on one image; `StudyEta` turns the costs still to go into seconds by the
seconds per FLOP this run has taken so far. Used by runner.ProgressBars.

How close the prior is: over the default study's 172 nets (2 cores), the base nets' seconds per
FLOP predict 930 s for the study against 814 measured (counting nets: 1,273); over the ViT
preset's 30 nets, 1,546 s against 1,557 (counting nets: 2,196).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import torch
from torch import nn

from featuretransfer.data.registry import load_dataset
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.registry import job_model
from featuretransfer.run.job import cache_cut
from featuretransfer.specs import DataSpec, JobSpec

log = logging.getLogger(__name__)


class ImageCounts(NamedTuple):
    """Images of a job's target half."""

    train: int  # after data.n_train_per_class
    val: int
    test: int


def job_flops(job: JobSpec, layer_flops: Sequence[float], cut: int, images: ImageCounts) -> float:
    """Forward and backward FLOPs to train and score `job`'s net.

    `layer_flops`: forward FLOPs of one image through each layer 1..L; `cut`: the leading layers
    computed once over every image (run.job.cache_cut) instead of at each step. A trained
    layer's backward costs twice its forward (the gradients of its weights and of its input),
    less the input gradient of the lowest trained layer (nothing below it learns).
    """
    frozen = 0 if job.fine_tune else job.n_copied  # a base net copies nothing: 0
    above_cache = sum(layer_flops[cut:])  # forward per image, at every step and evaluation
    trained = layer_flops[frozen:]
    backward = 2 * sum(trained) - (trained[0] if trained else 0)
    if job.train.steps:  # a fixed number of steps, whatever the data's size
        seen = job.train.steps * job.train.batch_size
    else:
        seen = job.train.epochs * images.train
    flops = seen * (above_cache + backward)
    flops += (job.train.epochs * images.val + images.test) * above_cache  # val per epoch, test
    flops += sum(images) * sum(layer_flops[:cut])  # the cached prefix, once over every image
    if job.treatment == "base":  # train_top1: a base net also scores its own training images
        flops += images.train * sum(layer_flops)
    return flops


def layer_flops(model: LayeredNet, image_shape: tuple[int, ...]) -> tuple[float, ...]:
    """Forward FLOPs of one image through each layer: those of its convolutions and linear maps
    (2 per multiply-add, as benchmarks/caffenet_throughput.py counts them), from one image run
    layer by layer. A user's model whose units do not compose the forward pass runs whole, and
    its FLOPs are shared evenly among its units."""
    count = [0.0]

    def add(module: nn.Module, inputs, output) -> None:
        if isinstance(module, nn.modules.conv._ConvNd):
            fan_in = module.in_channels // module.groups * math.prod(module.kernel_size)
            count[0] += 2.0 * output.numel() * fan_in
        elif isinstance(module, nn.Linear):
            count[0] += 2.0 * output.numel() * module.in_features

    hooks = [m.register_forward_hook(add) for m in model.modules()]
    x = torch.zeros(1, *image_shape)
    model.eval()
    try:
        with torch.no_grad():
            if not getattr(model, "composes", True):  # nets.units.UnitNet: whole or not at all
                model(x)
                return (count[0] / model.n_layers,) * model.n_layers
            flops = []
            for i in range(model.n_layers):
                x = model(x, start=i, stop=i + 1)
                flops.append(count[0] - sum(flops))
            return tuple(flops)
    finally:
        for hook in hooks:
            hook.remove()


def class_counts(
    data: DataSpec,
) -> tuple[tuple[int, ...], torch.Tensor, torch.Tensor, torch.Tensor]:
    """The data set's image shape and its images per class in train, val and test (the data
    set is read once per process)."""
    dataset = load_dataset(data)
    n = len(dataset.classes)
    return (
        tuple(dataset.train_x.shape[1:]),
        *(torch.bincount(y, minlength=n) for y in (dataset.train_y, dataset.val_y, dataset.test_y)),
    )


def image_counts(job: JobSpec, train: torch.Tensor, val: torch.Tensor, test: torch.Tensor):
    """The images of `job`'s target half, from its data set's images per class."""
    classes = list(job.split.classes(job.target))
    per_class = train[classes]
    if job.data.n_train_per_class:  # the first k of each class, or all where fewer
        per_class = per_class.clamp(max=job.data.n_train_per_class)
    return ImageCounts(int(per_class.sum()), int(val[classes].sum()), int(test[classes].sum()))


def prior_costs(jobs: list[JobSpec]) -> dict[str, float] | None:
    """Each job's expected FLOPs (`job_flops`), each model and data set measured once; None
    where one cannot be measured here (the ETA then counts nets, as tqdm does)."""
    datas: dict[DataSpec, tuple] = {}
    models: dict[tuple, tuple[LayeredNet, tuple[float, ...]]] = {}
    costs = {}
    try:
        for job in jobs:
            data = replace(job.data, n_train_per_class=0)  # one data set for every k
            if data not in datas:
                datas[data] = class_counts(data)
            shape, *counts = datas[data]
            size = job.train.crop or shape[1]
            n_outputs = job.net.n_outputs or len(job.split.classes(job.target))
            key = (job.net, shape, size, n_outputs)
            if key not in models:
                model = job_model(job, shape, 0)
                models[key] = model, layer_flops(model, (shape[0], size, size))
            model, flops = models[key]
            costs[job.id] = job_flops(job, flops, cache_cut(model, job), image_counts(job, *counts))
    except Exception as e:  # an ETA is never worth a failed study
        log.debug("no cost model for the ETA (every net counts the same): %r", e)
        return None
    return costs


class StudyEta:
    """Seconds to go for the nets still to train: the cost left times the seconds per unit of
    cost this run has taken so far, measured on its wall clock (so parallel workers and fused
    nets count as they run), including the trained part of nets still running.

    `costs`: job id -> cost of each net still to train; `unlisted` nets more at cost 1 each,
    named as they come (when no costs are known, every net counts 1).
    """

    def __init__(self, costs: dict[str, float], start: float, unlisted: int = 0):
        self.costs, self.start, self.unlisted = dict(costs), start, max(unlisted, 0)
        self.first: dict[str, float] = {}  # job id -> fraction trained when this run saw it
        self.trained: dict[str, float] = {}  # job id -> fraction trained now
        self.closed: set[str] = set()  # finished, failed or dropped: nothing more to go

    def _cost(self, job_id: str) -> float:
        if job_id not in self.costs and self.unlisted:
            self.unlisted -= 1
            self.costs[job_id] = 1.0
        return self.costs.get(job_id, 0.0)

    def progress(self, job_id: str, step: int, total: int) -> None:
        """A running net is at `step` of `total` (a resumed one starts past 0)."""
        self._cost(job_id)
        fraction = min(step / total, 1.0) if total else 0.0
        self.first.setdefault(job_id, fraction)
        self.trained[job_id] = fraction

    def finished(self, job_id: str, done: bool = True) -> None:
        """A net ended: `done`, or failed or stopped (the steps it trained still count)."""
        self._cost(job_id)
        if done:
            self.first.setdefault(job_id, 0.0)
            self.trained[job_id] = 1.0
        self.closed.add(job_id)

    def dropped(self, job_id: str) -> None:
        """A net this run will not train: done already, or its needs failed."""
        self._cost(job_id)
        self.closed.add(job_id)

    def seconds(self, now: float) -> float | None:
        """Seconds to go, or None before any net has trained a step."""
        done = sum(self.costs[i] * (self.trained[i] - self.first[i]) for i in self.trained)
        left = self.unlisted + sum(
            cost * (1 - self.trained.get(i, 0.0))
            for i, cost in self.costs.items()
            if i not in self.closed
        )
        if done <= 0:
            return None
        return left * (now - self.start) / done
