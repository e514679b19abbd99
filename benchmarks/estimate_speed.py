"""How long the estimates of a study take, against the study itself.

    python benchmarks/estimate_speed.py [--preset fashion-mnist] [--study DIR | --study-seconds S]
                                        [--libraries] [--check-reduction] [--device cpu]

Reads the preset's plan, trains its base nets into a temporary folder (or takes a study folder
that has them, `--study DIR`), and times `estimate_study`: the four estimators at every cut of
each source net and of the target's own base net (the transition cut compares the two), the CKA
maps with their baselines (baseA x baseB, two untrained nets, two seeds of one half; in a
finished study also every fine-tuned net against its parent and every BnB against baseB), and
the agreement and transition tables, with its stages. The estimate runs on one thread
(analysis/estimate.py `one_thread`). The study's time is measured:
the summed seconds of the finished nets of `--study DIR`, or of the committed run of the same
preset in docs/default-study/results.csv when its job ids are the preset's plan (it says so);
`--study-seconds S` gives it instead. The last line reads
`estimate E s = X% of the study's S s (budget 5%)`.

`--libraries` times, on the real features of baseA at every cut, scikit-learn's logistic
regression and k-NN against short torch versions (written here: full-batch L-BFGS on the same
objective; cdist + top-k vote) on 1 thread, and at the first cut also on torch's default
number of threads, with their held-out accuracies (best of 3 calls: the machine is shared).
`--check-reduction` runs the estimators on unreduced features too (max_dim = 0) and prints,
per estimator and group, the Spearman correlation of the cut rankings with and without it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from scipy import stats
from threadpoolctl import threadpool_limits

from featuretransfer import store
from featuretransfer.analysis.estimate import FOLDER, EstimateSpec, estimate_study
from featuretransfer.analysis.estimators import ESTIMATORS, knn, linear_probe
from featuretransfer.analysis.features import layer_features, load_net, target_sample
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study, preset_path

DOCS_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "default-study" / "results.csv"
BUDGET = 0.05  # of the study's time


def study_seconds(plan, folder: Path | None, given: float | None) -> tuple[float, str]:
    """The study's time and where it comes from."""
    if given is not None:
        return given, "given (--study-seconds)"
    ids = {job.id for job in plan}
    if folder is not None:
        records = [r for r in store.load_records(folder) if r["job_id"] in ids]
        if len(records) == len(ids):
            return sum(r["seconds"] for r in records), f"measured: {len(ids)} nets of {folder}"
    if DOCS_RESULTS.is_file():
        with DOCS_RESULTS.open() as f:
            rows = [r for r in csv.DictReader(f) if r["job_id"] in ids]
        if len(rows) == len(ids):
            seconds = sum(float(r["seconds"]) for r in rows)
            return seconds, f"measured: the {len(ids)} nets of {DOCS_RESULTS} (this plan's ids)"
    sys.exit("no measured time of this study: give --study DIR (finished) or --study-seconds S")


def torch_probe(fit_x, fit_y, held_x, held_y, c: float = 1.0) -> float:
    """scikit-learn's objective (C * sum of cross-entropies + |W|^2 / 2, bias free) by
    full-batch L-BFGS in torch, on standardised features."""
    x, y = torch.from_numpy(fit_x), torch.from_numpy(fit_y).long()
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-12)
    x = (x - mean) / std
    k = int(y.max()) + 1
    weight = torch.zeros(x.shape[1], k, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(k, dtype=x.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], max_iter=500, tolerance_grad=1e-6, line_search_fn="strong_wolfe"
    )

    def closure():
        optimizer.zero_grad()
        loss = c * F.cross_entropy(x @ weight + bias, y, reduction="sum")
        loss = loss + (weight * weight).sum() / 2
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        held = (torch.from_numpy(held_x) - mean) / std
        predicted = (held @ weight + bias).argmax(1).numpy()
    return float((predicted == held_y).mean())


def torch_knn(fit_x, fit_y, held_x, held_y, k: int = 10) -> float:
    x, held = torch.from_numpy(fit_x), torch.from_numpy(held_x)
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-12)
    distance = torch.cdist((held - mean) / std, (x - mean) / std)
    nearest = distance.topk(k, largest=False).indices
    labels = torch.from_numpy(fit_y).long()[nearest]
    votes = F.one_hot(labels, int(fit_y.max()) + 1).sum(1)
    return float((votes.argmax(1).numpy() == held_y).mean())  # ties: the lowest label


def best_of(fn, repeats: int = 3) -> tuple[float, float]:
    """(value, best seconds of `repeats` calls): the machine is shared, the minimum is the
    least disturbed."""
    times, value = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return value, min(times)


def compare_libraries(plan, out: Path, spec: EstimateSpec, device: str) -> None:
    base = next(j for j in plan if j.treatment == "transfer").parent()
    target = next(j for j in plan if j.treatment == "transfer").target
    sample = target_sample(
        base.data, base.train, base.split.classes(target), spec.n_fit, spec.n_held, spec.seed
    )
    model = load_net(base, out, tuple(sample.fit_x.shape[1:]))
    feats = layer_features(model, sample.x, device, spec.max_dim, spec.seed)
    m = len(sample.fit_y)
    fit_y, held_y = sample.fit_y.numpy(), sample.held_y.numpy()
    print(f"libraries on {base.display_name} features, {m} fit / {len(held_y)} held images:")
    threads = torch.get_num_threads()

    def on_threads(fn, n: int):
        """fn with BLAS/OpenMP and torch on n threads."""

        def call():
            with threadpool_limits(limits=n):
                torch.set_num_threads(n)
                try:
                    return fn()
                finally:
                    torch.set_num_threads(threads)

        return call

    variants = {}
    for n_threads in sorted({1, threads}):
        variants[f"sklearn probe {n_threads}t"] = (linear_probe, spec.probe_c, n_threads)
        variants[f"torch probe {n_threads}t"] = (torch_probe, spec.probe_c, n_threads)
        variants[f"sklearn knn {n_threads}t"] = (knn, spec.knn_k, n_threads)
        variants[f"torch knn {n_threads}t"] = (torch_knn, spec.knn_k, n_threads)
    totals = dict.fromkeys(variants, 0.0)
    for n, f in enumerate(feats[:-1], 1):
        f = f.double().numpy()
        args = (f[:m], fit_y, f[m:], held_y)
        line = []
        for name, (fn, parameter, n_threads) in variants.items():
            if (
                n_threads > 1 and n > 1
            ):  # ~20 s a probe on busy shared cores: the first cut shows it
                continue
            call = on_threads(lambda fn=fn, p=parameter, a=args: fn(*a, p), n_threads)
            accuracy, seconds = best_of(call)
            totals[name] += seconds
            line.append(f"{name} {accuracy:.4f} {seconds * 1e3:.0f} ms")
        print(f"  n = {n} ({f.shape[1]} features): " + "; ".join(line))
    print("  all cuts: " + ", ".join(f"{k} {v:.2f} s" for k, v in totals.items() if "1t" in k))


def check_reduction(plan, out: Path, spec: EstimateSpec, device: str, reduced: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        full_out = Path(scratch)
        (full_out / "jobs").symlink_to((out / "jobs").resolve())
        started = time.perf_counter()
        folder = estimate_study(plan, full_out, dataclasses.replace(spec, max_dim=0), device)
        seconds = time.perf_counter() - started
        full = list(csv.DictReader((folder / "scores.csv").open()))
    small = list(csv.DictReader((reduced / "scores.csv").open()))
    print(f"unreduced features (max_dim = 0): estimate {seconds:.1f} s")
    for group in sorted({r["group"] for r in small}):
        a = [r for r in small if r["group"] == group]
        b = [r for r in full if r["group"] == group]
        sizes = " ".join(f"{x['n_features']}/{y['n_features']}" for x, y in zip(a, b))
        cells = []
        for name in ESTIMATORS:
            rho = stats.spearmanr([float(r[name]) for r in a], [float(r[name]) for r in b])
            cells.append(f"{name} {rho.statistic:+.3f}")
        print(f"  {group}: rank correlation of cuts, reduced vs full: " + ", ".join(cells))
        print(f"    features per cut, reduced/full: {sizes}")
    # what matters in the end: how well each version ranks the cuts as the measured AnB does
    for label, rows in (("reduced", small), ("full", full)):
        cells = [f"{name} {agreement_with_anb(rows, name):+.3f}" for name in ESTIMATORS]
        print(f"  {label}: mean over groups of Spearman(score, measured AnB): " + ", ".join(cells))


def agreement_with_anb(rows: list[dict], name: str) -> float:
    """The mean over transfer groups of the Spearman correlation of a score with measured AnB."""
    rhos = []
    for group in sorted({r["group"] for r in rows if r["role"] == "transfer"}):
        measured = [
            r for r in rows if r["group"] == group and r["measured_top1"] not in ("", "nan")
        ]
        if len(measured) >= 3:
            x, y = ([float(r[k]) for r in measured] for k in (name, "measured_top1"))
            rhos.append(stats.spearmanr(x, y).statistic)
    return sum(rhos) / len(rhos) if rhos else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="fashion-mnist")
    parser.add_argument("--study", type=Path, help="a study folder with its base nets DONE")
    parser.add_argument("--study-seconds", type=float, help="the study's time, if not measured")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--libraries", action="store_true", help="scikit-learn against torch")
    parser.add_argument("--check-reduction", action="store_true", help="reduced vs all features")
    args = parser.parse_args()
    plan = plan_study(load_study(preset_path(args.preset)))
    spec = EstimateSpec()
    study, source = study_seconds(plan, args.study, args.study_seconds)
    with tempfile.TemporaryDirectory() as scratch:
        out = args.study or Path(scratch)
        bases = [j for j in plan if j.treatment == "base" and j.data == plan[0].data]
        started = time.perf_counter()
        summary = run_jobs(bases, out, InlineExecutor(), args.device, show_progress=False)
        trained = time.perf_counter() - started
        print(
            f"{args.preset}: {len(plan)} nets; base nets trained {len(summary.trained)} in "
            f"{trained:.1f} s, already done {len(summary.skipped_done)}; {torch.get_num_threads()}"
            f" threads, device {args.device}"
        )
        started = time.perf_counter()
        folder = estimate_study(plan, out, spec, args.device)
        seconds = time.perf_counter() - started
        stages = json.loads((folder / "summary.json").read_text())["seconds"]
        groups = len({r["group"] for r in csv.DictReader((folder / "scores.csv").open())})
        print(
            f"estimate: {groups} base groups x every cut, CKA maps; stages "
            + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items() if k != "total")
        )
        if args.libraries:
            compare_libraries(plan, out, spec, args.device)
        if args.check_reduction:
            check_reduction(plan, out, spec, args.device, folder)
        if trained > 1 and summary.trained:
            print(
                f"estimate command from scratch: {trained + seconds:.1f} s = "
                f"{(trained + seconds) / study:.1%} of the study (base nets + estimate)"
            )
        assert folder == out / FOLDER
    print(f"study: {study:.0f} s, {source}")
    print(
        f"estimate {seconds:.1f} s = {seconds / study:.1%} of the study's {study:.0f} s "
        f"(budget {BUDGET:.0%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
