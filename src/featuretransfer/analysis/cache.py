"""What the estimate computes once and reads many times: each target half's image sample, each
net's features on it, and their Gram matrices (FeatureCache), and the seconds spent per stage
(Stopwatch, for summary.json)."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from pathlib import Path

import torch

from featuretransfer.analysis.features import (
    TargetSample,
    layer_outputs,
    load_net,
    load_source_net,
    target_sample,
    untrained_net,
)
from featuretransfer.analysis.groups import FeatureNet
from featuretransfer.analysis.similarity import Gram, gram
from featuretransfer.specs import JobSpec


class Stopwatch:
    """Seconds spent per stage, summed over calls; a stage entered inside another pauses the
    outer one, so the stages add up to the time spent in them."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._since = 0.0

    @contextlib.contextmanager
    def stage(self, name: str):
        self._switch()
        self._stack.append(name)
        try:
            yield
        finally:
            self._switch()
            self._stack.pop()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._since
        self._since = now


class FeatureCache:
    """Samples, layer features and Gram matrices, each computed once per net and sample; `spec`
    is the EstimateSpec (n_fit, n_held, n_cka, max_dim, seed)."""

    def __init__(self, out: Path, spec, device: str, watch: Stopwatch):
        self.out, self.spec, self.device, self.watch = out, spec, device, watch
        self.samples: dict[tuple, TargetSample] = {}
        self.features: dict[tuple, list[torch.Tensor]] = {}
        self.grams: dict[tuple, list[Gram]] = {}
        self.sample_sizes: dict[str, dict] = {}
        self.layer_sizes: dict[str, list[dict]] = {}

    def sample(self, job: JobSpec, target: str) -> tuple[tuple, TargetSample]:
        """The images of half `target` of job's split (the job's data and crop)."""
        classes = job.split.classes(target)
        key = (job.data, job.train.crop, classes)
        if key not in self.samples:
            with self.watch.stage("sample"):
                spec = self.spec
                self.samples[key] = sample = target_sample(
                    job.data, job.train, classes, spec.n_fit, spec.n_held, spec.seed
                )
            self.sample_sizes[f"{job.split.name}:{target}"] = {
                "classes": list(classes),
                "fit_images": len(sample.fit_y),
                "held_images": len(sample.held_y),
                "cka_images": min(self.spec.n_cka, len(sample.fit_y)),
            }
        return key, self.samples[key]

    def model(self, net: FeatureNet, image_shape: tuple[int, ...]):
        if net.kind == "source":
            return load_source_net(net.job, image_shape)
        if net.kind == "untrained":
            return untrained_net(net.job, image_shape, net.seed)
        return load_net(net.job, self.out, image_shape)

    def layers(
        self, net: FeatureNet, target: str, cka_only: bool = False, keep: bool = True
    ) -> list[torch.Tensor]:
        """Features of every layer of the net on the sample of `target` (fit, then held;
        only the CKA images with `cka_only`), kept for the next call unless `keep` is false."""
        key, sample = self.sample(net.job, target)
        for wanted in (False, cka_only):  # all images serve a request for the CKA images too
            if (net.key, key, wanted) in self.features:
                return self.features[(net.key, key, wanted)]
        with self.watch.stage("features"):
            model = self.model(net, tuple(sample.fit_x.shape[1:]))
            x = sample.fit_x[: self.spec.n_cka] if cka_only else sample.x
            feats, shapes = layer_outputs(model, x, self.device, self.spec.max_dim, self.spec.seed)
        if net.key not in self.layer_sizes:
            self.layer_sizes[net.key] = [
                {"layer": name, "shape": "x".join(map(str, shape)), "n_features": int(f.shape[1])}
                for name, shape, f in zip(model.layer_names, shapes, feats)
            ]
        if keep:
            self.features[(net.key, key, cka_only)] = feats
        return feats

    def layer_names(self, net: FeatureNet) -> list[str]:
        """The layer names of a net whose features were taken."""
        return [size["layer"] for size in self.layer_sizes[net.key]]

    def gram_matrices(self, net: FeatureNet, target: str, keep: bool = True) -> list[Gram]:
        """The Gram matrix of every layer on the CKA images (n_cka x n_cka float64 each)."""
        key, sample = self.sample(net.job, target)
        if (net.key, key) in self.grams:
            return self.grams[(net.key, key)]
        feats = self.layers(net, target, cka_only=True, keep=keep)
        n = min(self.spec.n_cka, len(sample.fit_y))  # the features may hold the held images too
        with self.watch.stage("similarity"):
            grams = [gram(f[:n].to(self.device)) for f in feats]
        if keep:
            self.grams[(net.key, key)] = grams
        return grams

    def forget(self) -> None:
        """Drop the kept features and Gram matrices (samples and sizes stay)."""
        self.features.clear()
        self.grams.clear()
