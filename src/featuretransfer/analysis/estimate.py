"""The estimates of a study: estimators at every cut of every base group's source net, CKA maps,
and their agreement with the measured transfer, written to DIR/estimates/.

    estimate_study(plan, out)   # the base nets must be DONE under out (cli: `estimate`)

A base group is (split, seed, target, source): the base net of the source half and the nets
the study trains from it towards the target; source != target is transfer (AnB, AnB+; BnA is
folded into AnB as the paper does), source == target selffer (BnB, BnB+; AnA into BnB). The
source net gives the features, the target half's images and labels are what is scored. Files:

    scores.csv      one row per group and cut: every estimator's score (ESTIMATES, not
                    measurements) beside the measured top-1 of the frozen and the fine-tuned
                    net at that cut where the study has trained them (else empty)
    agreement.csv   per estimator, group role and treatment (AnB, AnB+, BnB, BnB+): the rank
                    correlation of score and measured top-1 over cuts, pooled over groups
                    (scope "pooled", with bootstrap intervals) and per group
    similarity.csv  linear CKA: baseA against baseB at every pair of layers ("A-B"); each
                    fine-tuned net against its parent layer by layer ("fine-tuned"); each BnB
                    against baseB layer by layer ("selffer": 1 up to the cut by construction)
    summary.json    the settings, sample sizes, feature sizes per layer, timings, and the job
                    ids of the measured nets used (the report says when the study has more)

Nets that are not DONE are left out (logged); a study with only its base nets gives scores and
the A-B maps, no agreement.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from featuretransfer.analysis.agreement import Point, agreement
from featuretransfer.analysis.estimators import ESTIMATORS, score_all
from featuretransfer.analysis.features import (
    EstimateError,
    TargetSample,
    layer_features,
    load_net,
    target_sample,
)
from featuretransfer.analysis.similarity import Gram, cka, cka_matrix, gram
from featuretransfer.specs import HALVES, JobSpec, SplitSpec
from featuretransfer.study import store

log = logging.getLogger(__name__)

NAN = float("nan")
FOLDER = "estimates"
SCORE_COLUMNS = ("group", "role", "split", "seed", "source", "target", "base_job", "n", "layer")
SCORE_COLUMNS += ("n_features", *ESTIMATORS, "measured_top1", "measured_top1_plus")
AGREEMENT_COLUMNS = ("estimator", "role", "treatment", "scope", "n_groups", "n_points")
AGREEMENT_COLUMNS += ("spearman", "spearman_low", "spearman_high")
AGREEMENT_COLUMNS += ("kendall", "kendall_low", "kendall_high", "kendall_p")
SIMILARITY_COLUMNS = ("kind", "group", "net_a", "net_b", "n", "layer_a", "layer_b", "cka")


@dataclass(frozen=True)
class EstimateSpec:
    """How the estimates are made; every default is what `featuretransfer estimate` uses."""

    n_fit: int = 2000  # target training images the estimators fit on (per split and half)
    n_held: int = 1000  # target validation images the probe and k-NN are scored on
    n_cka: int = 500  # of the fit images, those the CKA maps use (Gram: n_cka^2 float64;
    # 500 rather than 1000 moved the default study's 1,728 CKA values by 0.006 on average (at
    # most 0.04) and brought its estimate from 5.7% to 4.2% of the study's time)
    max_dim: int = 512  # numbers per image and layer at most (features.reduce); 0: all
    probe_c: float = 1.0  # inverse L2 strength of the linear probe (scikit-learn's C)
    knn_k: int = 10  # neighbours of the k-NN vote
    seed: int = 0  # of the image sample and the projections
    n_bootstrap: int = 1000  # resamples of groups for the agreement intervals
    # also score each base net on its own half's images, against BnB / BnB+ (the co-adaptation
    # side); off by default: it doubles the estimators' time, and the paper's question is AnB
    score_selffers: bool = False


@dataclass(frozen=True)
class BaseGroup:
    """One source net and the study's nets trained from it towards `target`."""

    split: SplitSpec
    seed: int
    target: str
    source: str
    base: JobSpec  # the source half's base net: its features are scored
    jobs: tuple[JobSpec, ...]  # the treatments copying from it, ordered by (n, fine_tune)

    @property
    def role(self) -> str:
        return "selffer" if self.source == self.target else "transfer"

    @property
    def name(self) -> str:
        return f"{self.split.name}:{self.source}->{self.target}#{self.seed}"

    def treatment(self, fine_tune: bool) -> str:
        """The paper's name of its nets: AnB / AnB+ for transfer, BnB / BnB+ for selffer."""
        return ("BnB" if self.role == "selffer" else "AnB") + ("+" if fine_tune else "")


def base_groups(plan: list[JobSpec]) -> list[BaseGroup]:
    """The base groups of a plan, from its transfer and selffer jobs, in a stable order."""
    jobs = defaultdict(list)
    for job in plan:
        if job.treatment in ("transfer", "selffer"):
            jobs[(job.split.name, job.seed, job.target, job.source)].append(job)
    groups = []
    for (_, seed, target, source), members in sorted(jobs.items()):
        members.sort(key=lambda j: (j.n_copied, j.fine_tune))
        parent = members[0].parent()
        groups.append(BaseGroup(members[0].split, seed, target, source, parent, tuple(members)))
    return groups


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


def estimate_study(
    plan: list[JobSpec],
    out: Path,
    spec: EstimateSpec = EstimateSpec(),
    device: str = "cpu",
) -> Path:
    """Write out/estimates/ for the DONE nets of `plan` (module docstring); return the folder."""
    out = Path(out)
    started = time.perf_counter()
    groups = base_groups(plan)
    if not groups:
        raise EstimateError(
            "the study trains no transfer or selffer nets, so there is no transfer curve to "
            "estimate; give it treatments (study.treatments)"
        )
    states = {job.id: store.job_state(out, job.id) for job in plan}
    done = {job_id for job_id, state in states.items() if state == store.DONE}
    damaged = [job for job in plan if states[job.id] == store.DAMAGED]
    records = {r["job_id"]: r for r in store.load_records(out) if r["job_id"] in done}
    watch = Stopwatch()
    cache = FeatureCache(out, spec, device, watch)
    bases = {(j.split.name, j.seed, j.target, j.data): j for j in plan if j.treatment == "base"}
    score_rows, similarity_rows, seen, current = [], [], set(), None
    skipped = [
        f"{job.display_name}: damaged (its record or weights cannot be read)" for job in damaged
    ]
    for group in groups:  # sorted: the groups of one split and seed come together
        if group.base.id not in done:
            skipped.append(f"{group.name}: its base net {group.base.display_name} is not done")
            continue
        if (group.split.name, group.seed) != current:
            cache.forget()  # the base nets of the previous split and seed are needed no more
            current = (group.split.name, group.seed)
        if group.role == "transfer" or spec.score_selffers:
            score_rows += group_scores(group, cache, records, spec, watch)
        with watch.stage("similarity"):
            similarity_rows += similarity(group, bases, done, cache, seen, skipped)
    if not score_rows:
        raise EstimateError(
            f"no base net of the study is done in {out}: run `featuretransfer estimate` on a "
            "study file (it trains them) or finish `featuretransfer run` first"
        )
    with watch.stage("agreement"):
        agreement_rows = agreement_table(groups, score_rows, spec)
    for reason in skipped:
        log.warning("estimates: %s; left out", reason)
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "scores.csv", SCORE_COLUMNS, score_rows)
    write_csv(folder / "agreement.csv", AGREEMENT_COLUMNS, agreement_rows)
    write_csv(folder / "similarity.csv", SIMILARITY_COLUMNS, similarity_rows)
    used = sorted(
        job.id
        for group in groups
        for job in group.jobs
        if job.id in records and group.base.id in done
    )
    store.write_json(
        folder / "summary.json",
        {
            "note": "ESTIMATES: scores of frozen features, not measured transfer accuracy",
            "settings": dataclasses.asdict(spec),
            "device": device,
            "groups": [
                {"name": g.name, "role": g.role, "base_job": g.base.id, "base": g.base.display_name}
                for g in groups
                if g.base.id in done
            ],
            "skipped": skipped,
            "samples": cache.sample_sizes,
            "layers": {
                g.base.id: cache.layer_sizes[g.base.id] for g in groups if g.base.id in done
            },
            "measured_jobs": used,
            "seconds": {k: round(v, 3) for k, v in sorted(watch.seconds.items())}
            | {"total": round(time.perf_counter() - started, 3)},
        },
    )
    log.info("estimates of %d base groups in %s", sum(g.base.id in done for g in groups), folder)
    return folder


class FeatureCache:
    """Samples, layer features and Gram matrices, each computed once per net and sample."""

    def __init__(self, out: Path, spec: EstimateSpec, device: str, watch: Stopwatch):
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
                "cka_images": min(spec.n_cka, len(sample.fit_y)),
            }
        return key, self.samples[key]

    def layers(
        self, job: JobSpec, target: str, cka_only: bool = False, keep: bool = True
    ) -> list[torch.Tensor]:
        """Features of every layer of job's net on the sample of `target` (fit, then held;
        only the CKA images with `cka_only`), kept for the next call unless `keep` is false."""
        key, sample = self.sample(job, target)
        for wanted in (False, cka_only):  # all images serve a request for the CKA images too
            if (job.id, key, wanted) in self.features:
                return self.features[(job.id, key, wanted)]
        with self.watch.stage("features"):
            model = load_net(job, self.out, tuple(sample.fit_x.shape[1:]))
            x = sample.fit_x[: self.spec.n_cka] if cka_only else sample.x
            feats = layer_features(model, x, self.device, self.spec.max_dim, self.spec.seed)
        if job.id not in self.layer_sizes:
            self.layer_sizes[job.id] = layer_sizes(model, sample.fit_x[:1], feats)
        if keep:
            self.features[(job.id, key, cka_only)] = feats
        return feats

    def gram_matrices(self, job: JobSpec, target: str, keep: bool = True) -> list[Gram]:
        """The Gram matrix of every layer on the CKA images (n_cka x n_cka float64 each)."""
        key, sample = self.sample(job, target)
        if (job.id, key) in self.grams:
            return self.grams[(job.id, key)]
        feats = self.layers(job, target, cka_only=True, keep=keep)
        n = min(self.spec.n_cka, len(sample.fit_y))  # the features may hold the held images too
        with self.watch.stage("similarity"):
            grams = [gram(f[:n].to(self.device)) for f in feats]
        if keep:
            self.grams[(job.id, key)] = grams
        return grams

    def forget(self) -> None:
        """Drop the kept features and Gram matrices (samples and sizes stay)."""
        self.features.clear()
        self.grams.clear()


def layer_sizes(model, image: torch.Tensor, feats: list[torch.Tensor]) -> list[dict]:
    """Each layer's output shape per image and the number of features kept."""
    shapes, h = [], image
    with torch.inference_mode():
        for i in range(model.n_layers):
            h = model(h.to(next(model.parameters()).device), start=i, stop=i + 1)
            shapes.append(list(h.shape[1:]))
    return [
        {"layer": name, "shape": "x".join(map(str, shape)), "n_features": int(f.shape[1])}
        for name, shape, f in zip(model.layer_names, shapes, feats)
    ]


def group_scores(
    group: BaseGroup, cache: FeatureCache, records: dict, spec: EstimateSpec, watch: Stopwatch
) -> list[dict]:
    """Every estimator at every cut 1..L-1 of the group's source net, with the measured top-1."""
    feats = cache.layers(group.base, group.target)
    _, sample = cache.sample(group.base, group.target)
    m = len(sample.fit_y)
    fit_y, held_y = sample.fit_y.numpy(), sample.held_y.numpy()
    measured = {}
    for job in group.jobs:
        record = records.get(job.id)
        if record is not None and record.get("status") == "done":
            measured[(job.n_copied, job.fine_tune)] = float(record["top1"])
    names = cache.layer_sizes[group.base.id]
    rows = []
    for n in range(1, len(feats)):
        f = feats[n - 1].double().numpy()
        with watch.stage("estimators"):
            scores = score_all(f[:m], fit_y, f[m:], held_y, spec.probe_c, spec.knn_k)
        rows.append(
            {
                "group": group.name,
                "role": group.role,
                "split": group.split.name,
                "seed": group.seed,
                "source": group.source,
                "target": group.target,
                "base_job": group.base.id,
                "n": n,
                "layer": names[n - 1]["layer"],
                "n_features": f.shape[1],
                **scores,
                "measured_top1": measured.get((n, False), NAN),
                "measured_top1_plus": measured.get((n, True), NAN),
            }
        )
    return rows


def similarity(
    group: BaseGroup,
    bases: dict[tuple, JobSpec],
    done: set[str],
    cache: FeatureCache,
    seen: set[tuple],
    skipped: list[str],
) -> list[dict]:
    """The CKA maps of one group (module docstring), on the CKA images of its target half; the
    A-B map once per (split, seed, target), noted in `seen`. A treatment net whose weights
    cannot be read is left out of the maps (said in `skipped`): its measured top-1 still counts."""
    rows = []
    pair = [bases.get((group.split.name, group.seed, h, group.base.data)) for h in HALVES]
    key = (group.split.name, group.seed, group.target)
    if key not in seen and all(b is not None and b.id in done for b in pair):
        seen.add(key)
        a, b = (cache.gram_matrices(base, group.target) for base in pair)
        names = cache.layer_sizes[pair[0].id]
        for i, row in enumerate(cka_matrix(a, b)):
            for j, value in enumerate(row):
                rows.append(similarity_row("A-B", group, pair, 0, names[i], names[j], value))
    parent = cache.gram_matrices(group.base, group.target)
    names = cache.layer_sizes[group.base.id]
    for job in group.jobs:
        kind = "fine-tuned" if job.fine_tune else "selffer" if group.role == "selffer" else ""
        if not kind or job.id not in done:
            continue
        try:  # a treatment net's features and Gram matrices serve this map only: not kept
            own = cache.gram_matrices(job, group.target, keep=False)
        except EstimateError as e:
            skipped.append(f"CKA maps: {e}")
            continue
        for i, (x, y) in enumerate(zip(own, parent)):
            value = cka(x, y)
            rows.append(
                similarity_row(
                    kind, group, (job, group.base), job.n_copied, names[i], names[i], value
                )
            )
    return rows


def similarity_row(kind, group, nets, n, layer_a, layer_b, value) -> dict:
    return {
        "kind": kind,
        "group": group.name,
        "net_a": nets[0].display_name,
        "net_b": nets[1].display_name,
        "n": n,
        "layer_a": layer_a["layer"],
        "layer_b": layer_b["layer"],
        "cka": value,
    }


def agreement_table(groups: list[BaseGroup], rows: list[dict], spec: EstimateSpec) -> list[dict]:
    """Per estimator, role and treatment: pooled over the role's groups, then per group."""
    table = []
    for role in ("transfer", "selffer"):
        members = [g for g in groups if g.role == role]
        if not members:
            continue
        for fine_tune, column in ((False, "measured_top1"), (True, "measured_top1_plus")):
            treatment = members[0].treatment(fine_tune)
            for estimator in ESTIMATORS:
                points = [
                    Point(r["group"], r["n"], r[estimator], r[column])
                    for r in rows
                    if r["role"] == role and math.isfinite(r[column])
                ]
                if not points:
                    continue
                scopes = [("pooled", points)] + [
                    (g, [p for p in points if p.group == g])
                    for g in sorted({p.group for p in points})
                ]
                for scope, chosen in scopes:
                    result = agreement(chosen, spec.n_bootstrap, spec.seed)
                    table.append(
                        {"estimator": estimator, "role": role, "treatment": treatment}
                        | {"scope": scope}
                        | result
                    )
    return table


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """rows as CSV (floats to 6 significant digits, nan as empty), written atomically."""

    def cell(value):
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.6g}"
        return value

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: cell(row[k]) for k in columns} for row in rows)
    store.write_atomic(path, text.getvalue())
