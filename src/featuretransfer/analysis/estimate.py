"""The estimates of a study: estimators at every cut of every base group's source net, CKA maps
with their baselines, and their agreement with the measured transfer, written to
DIR/estimates/.

    check_estimate(plan, spec)  # before anything trains: can the estimate run at all?
    estimate_study(plan, out)   # the base nets must be DONE under out (cli: `estimate`)

Groups (groups.py): per (split, seed, target, source) the source net (baseA, baseB, or a
pretrained checkpoint for SnB) and the nets trained from it, and for every transfer target the
target's own base net on the same images. Files:

    scores.csv      one row per group and cut 1..L-1: every estimator's score (ESTIMATES,
                    not measurements), `note` where a layer's scores are stated rather than
                    computed (a constant layer) or nan (features not finite), beside the
                    measured top-1 of the frozen and the fine-tuned net at that cut where the
                    study has trained them (else empty)
    agreement.csv   per role and treatment (AnB, AnB+, SnB, SnB+, BnB, BnB+): for each
                    estimator and the depth prior (score = -n) the mean rank correlation of
                    score and measured top-1 over cuts with its interval over independent
                    units (`unit`: split, or seed in a one-split study), the paired
                    difference to the depth prior, the rank range the differences resolve;
                    the seed-to-seed ceiling (estimator "seed_to_seed"); then per group
                    (agreement.py)
    comparisons.csv every paired difference behind the ranks: estimator - versus
    transitions.csv per transfer group: the measured transition cut and each estimator's
                    predicted one (transition.py)
    transition_hits.csv  each estimator's exact and within-one hits, and the best constant
                    guess's
    similarity.csv  the CKA maps and their baselines (maps.py)
    summary.json    the settings (the margin included), the sample sizes used, feature sizes
                    per layer, timings, the baselines not measured, and the job ids of the
                    measured nets used (the report says when the study has more)

Nets that are not DONE are left out (logged); a study with only its base nets gives scores and
the between-halves maps, no agreement.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from featuretransfer import store
from featuretransfer.analysis.cache import FeatureCache, Stopwatch
from featuretransfer.analysis.compare import (
    AGREEMENT_COLUMNS,
    COMPARISON_COLUMNS,
    HIT_COLUMNS,
    TRANSITION_COLUMNS,
    agreement_table,
    transition_table,
)
from featuretransfer.analysis.estimators import ESTIMATORS, layer_note, null_scores, score_all
from featuretransfer.analysis.features import (
    EstimateError,
    layer_outputs,
    load_source_net,
    target_sample,
    untrained_net,
)
from featuretransfer.analysis.groups import BaseGroup, base_groups
from featuretransfer.analysis.maps import between_halves, treatment_maps
from featuretransfer.specs import JobSpec

log = logging.getLogger(__name__)

NAN = float("nan")
FOLDER = "estimates"
SCORE_COLUMNS = ("group", "role", "split", "seed", "source", "target", "base_job", "n", "layer")
SCORE_COLUMNS += ("n_features", "note", *ESTIMATORS, "measured_top1", "measured_top1_plus")
SIMILARITY_COLUMNS = ("kind", "group", "net_a", "net_b", "n", "layer_a", "layer_b", "cka", "note")


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
    seed: int = 0  # of the image sample, the projections and the untrained CKA baseline
    # points of top-1: the transition cut's margin (the study's [report] margin, which
    # `featuretransfer estimate` passes)
    margin: float = 1.0
    # also score each target's own base net on its own half's images (the selffer direction):
    # the transition cut's prediction compares the source with it, and BnB / BnB+ are checked
    # against it; it doubles the estimators' time
    score_selffers: bool = True


CHECK_IMAGES = 2  # images of the check's forward pass


def check_estimate(plan: list[JobSpec], spec: EstimateSpec = EstimateSpec()) -> None:
    """Raise EstimateError (or the model's ModelError), in one line, where the estimate of
    `plan` cannot run, before anything trains: a plan without transfer or selffer nets, a
    half too small to sample, a model whose units give no single tensor each (hooks on a
    fresh net, on two sample images), a pretrained source that does not load into the model."""
    groups = base_groups(plan)
    if not groups:
        raise EstimateError(
            "the study trains no transfer or selffer nets, so there is no transfer curve to "
            "estimate; give it treatments (study.treatments)"
        )
    checked = set()
    for group in groups:
        job = group.base.job
        sample = target_sample(
            job.data, job.train, job.split.classes(group.target), CHECK_IMAGES, 2, spec.seed
        )
        shape = tuple(sample.fit_x.shape[1:])
        key = (job.net, job.data, job.train.crop, group.target, group.base.kind, job.split)
        if key in checked:
            continue
        checked.add(key)
        if group.base.kind == "source":
            model = load_source_net(job, shape)
        else:  # a user's model that cannot be built raises its own one-line ModelError
            model = untrained_net(job, shape, 0)
        layer_outputs(model, sample.fit_x[:CHECK_IMAGES], "cpu", spec.max_dim, spec.seed)


@contextlib.contextmanager
def one_thread():
    """torch, BLAS and OpenMP on one thread, restored after. The estimate's tensors are small
    (a forward pass of 3000 images, Gram matrices of 500): on this shared 2-core machine, a
    ConvNet8's features of 3000 images took 0.4 s on one torch thread against 1.2-2.0 s on two,
    and the tiny test study's whole estimate 2.3 s against 65 s, the threads spinning against
    each other and the machine's other work. One thread also makes the numbers independent of
    the machine's core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def estimate_study(
    plan: list[JobSpec],
    out: Path,
    spec: EstimateSpec = EstimateSpec(),
    device: str = "cpu",
) -> Path:
    """Write out/estimates/ for the DONE nets of `plan` (module docstring); return the folder."""
    with one_thread():
        return _estimate_study(plan, Path(out), spec, device)


def _estimate_study(plan: list[JobSpec], out: Path, spec: EstimateSpec, device: str) -> Path:
    started = time.perf_counter()
    groups = base_groups(plan)
    if not groups:
        check_estimate(plan, spec)  # says why, in one line
    states = store.states(out, store.plan_entries(plan))
    done = {job_id for job_id, state in states.items() if state == store.DONE}
    damaged = [job for job in plan if states[job.id] == store.DAMAGED]
    records = {
        r["job_id"]: r
        for r in store.load_records(out, store.plan_entries(plan))
        if r["job_id"] in done
    }
    watch = Stopwatch()
    cache = FeatureCache(out, spec, device, watch)
    main_data = groups[0].own.data
    bases = {
        (j.split.name, j.seed, j.target): j
        for j in plan
        if j.treatment == "base" and j.data == main_data
    }
    score_rows, similarity_rows, seen, current, nulls, classes = [], [], set(), None, {}, {}
    skipped = [
        f"{job.display_name}: damaged (its record or weights cannot be read)" for job in damaged
    ]
    notes: list[str] = []
    scored = []
    for group in groups:  # sorted: the groups of one split and seed come together
        if group.base.kind == "job" and group.base.key not in done:
            skipped.append(f"{group.name}: its source net {group.base.name} is not done")
            continue
        if (group.split.name, group.seed) != current:
            cache.forget()  # the base nets of the previous split and seed are needed no more
            current = (group.split.name, group.seed)
        scored.append(group)
        if group.role == "transfer" or spec.score_selffers:
            score_rows += group_scores(group, cache, records, spec)
            _, sample = cache.sample(group.base.job, group.target)
            nulls[group.name] = null_scores(sample.fit_y.numpy(), sample.held_y.numpy())
            classes[group.name] = len(group.split.classes(group.target))
        with watch.stage("similarity"):
            similarity_rows += between_halves(
                group, bases, done, cache, seen, notes, spec.seed
            ) + treatment_maps(group, done, cache, skipped)
    if not score_rows:
        raise EstimateError(
            f"no base net of the study is done in {out}: run `featuretransfer estimate` on a "
            "study file (it trains them) or finish `featuretransfer run` first"
        )
    with watch.stage("agreement"):
        agreement_rows, comparison_rows = agreement_table(scored, score_rows)
        transition_rows, hit_rows = transition_table(
            scored, score_rows, records, nulls, classes, spec.margin
        )
    for reason in skipped:
        log.warning("estimates: %s; left out", reason)
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "scores.csv", SCORE_COLUMNS, score_rows)
    write_csv(folder / "agreement.csv", AGREEMENT_COLUMNS, agreement_rows)
    write_csv(folder / "comparisons.csv", COMPARISON_COLUMNS, comparison_rows)
    write_csv(folder / "transitions.csv", TRANSITION_COLUMNS, transition_rows)
    write_csv(folder / "transition_hits.csv", HIT_COLUMNS, hit_rows)
    write_csv(folder / "similarity.csv", SIMILARITY_COLUMNS, similarity_rows)
    used = sorted(job.id for group in scored for job in group.jobs if job.id in records)
    store.write_json(
        folder / "summary.json",
        {
            "note": "ESTIMATES: scores of frozen features, not measured transfer accuracy",
            "settings": dataclasses.asdict(spec),
            "device": device,
            "groups": [
                {"name": g.name, "role": g.role, "base_job": g.base.key, "base": g.base.name}
                for g in scored
            ],
            "units": sorted({r["unit"] for r in agreement_rows if r["scope"] == "pooled"}),
            "skipped": skipped,
            "baselines": notes,
            "samples": cache.sample_sizes,
            "layers": {
                g.base.key: cache.layer_sizes[g.base.key]
                for g in scored
                if g.base.key in cache.layer_sizes
            },
            "measured_jobs": used,
            "seconds": {k: round(v, 3) for k, v in sorted(watch.seconds.items())}
            | {"total": round(time.perf_counter() - started, 3)},
        },
    )
    log.info("estimates of %d base groups in %s", len(scored), folder)
    return folder


def group_scores(
    group: BaseGroup, cache: FeatureCache, records: dict, spec: EstimateSpec
) -> list[dict]:
    """Every estimator at every cut 1..L-1 of the group's source net, with the measured top-1."""
    feats = cache.layers(group.base, group.target)
    _, sample = cache.sample(group.base.job, group.target)
    m = len(sample.fit_y)
    fit_y, held_y = sample.fit_y.numpy(), sample.held_y.numpy()
    measured = {}
    for job in group.jobs:
        record = records.get(job.id)
        if record is not None and record.get("status") == "done":
            measured[(job.n_copied, job.fine_tune)] = float(record["top1"])
    names = cache.layer_names(group.base)
    rows = []
    for n in range(1, len(feats)):
        f = feats[n - 1].double().numpy()
        with cache.watch.stage("estimators"):
            scores = score_all(f[:m], fit_y, f[m:], held_y, spec.probe_c, spec.knn_k)
        rows.append(
            {
                "group": group.name,
                "role": group.role,
                "split": group.split.name,
                "seed": group.seed,
                "source": group.source,
                "target": group.target,
                "base_job": group.base.key,
                "n": n,
                "layer": names[n - 1],
                "n_features": f.shape[1],
                "note": layer_note(f),
                **scores,
                "measured_top1": measured.get((n, False), NAN),
                "measured_top1_plus": measured.get((n, True), NAN),
            }
        )
    return rows


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """rows as CSV (floats to 6 significant digits, nan as empty), written atomically."""

    def cell(value):
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.6g}"
        return value

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: cell(row.get(k, "")) for k in columns} for row in rows)
    store.write_atomic(path, text.getvalue())
