"""Equal science in bf16: base nets of the default study's design trained in fp32 and in bf16,
each pair from the same initialisation and the same batches, differing only in precision.

    python benchmarks/precision_check.py                  # 5 random splits x A, B x seeds 0, 1
    python benchmarks/precision_check.py --seeds 0 --splits 2   # a quicker look

Prints each pair's test top-1 and the mean bf16 - fp32 difference with its 95% t-interval,
taken over the random splits (a split's nets share its partition and test images, so the pairs
of one split are averaged first: the splits are the independent replicates), and whether that
interval lies inside +-0.5 point. Needs a CPU with bf16 units to say anything about them (on
one without, bf16 is emulated: slow, and the comparison still holds).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from scipy import stats

from featuretransfer import store
from featuretransfer.run.executors import InlineExecutor, cpu_count
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.plan import plan_study
from featuretransfer.study.splits import random_split
from featuretransfer.study.studyfile import load_study, preset_path

BOUND = 0.5  # points: the interval of the mean difference must lie inside +-BOUND


def base_nets(precision: str, n_splits: int, seeds: tuple[int, ...]) -> list:
    """The main base nets (baseA, baseB) of the default preset's design in `precision`."""
    study = load_study(preset_path("fashion-mnist"), device=None)
    n_classes = len(study.splits[0].A) + len(study.splits[0].B)
    study = dataclasses.replace(
        study,
        train=dataclasses.replace(study.train, precision=precision),
        splits=tuple(random_split(n_classes, seed) for seed in range(n_splits)),
        seeds=seeds,
    )
    return [j for j in plan_study(study) if j.treatment == "base" and j.role == "main"]


def top1_by_net(precision: str, n_splits: int, seeds) -> tuple[dict, float]:
    """{(split, half, seed): test top-1} of the base nets in `precision`, and the wall seconds."""
    jobs = base_nets(precision, n_splits, seeds)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        summary = run_jobs(jobs, Path(out), InlineExecutor(), "cpu", show_progress=False)
        seconds = time.perf_counter() - started
        if summary.failed:
            raise SystemExit(f"{precision}: {len(summary.failed)} nets failed: {summary.failed}")
        records = {r["job_id"]: r for r in store.load_records(Path(out))}
    return {(j.split.name, j.target, j.seed): records[j.id]["top1"] for j in jobs}, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=5, help="random splits s0.. (default 5)")
    parser.add_argument("--seeds", default="0,1", help="seeds per split (default 0,1)")
    args = parser.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    torch.set_num_threads(cpu_count())
    print(f"base nets of the default design: {args.splits} splits x A, B x seeds {args.seeds}")
    fp32, fp32_s = top1_by_net("fp32", args.splits, seeds)
    bf16, bf16_s = top1_by_net("bf16", args.splits, seeds)
    print(f"wall: fp32 {fp32_s:.0f} s, bf16 {bf16_s:.0f} s ({fp32_s / bf16_s:.2f}x)")
    print("split half seed   fp32    bf16   bf16-fp32 (points)")
    by_split: dict[str, list[float]] = {}
    for key in sorted(fp32):
        diff = 100 * (bf16[key] - fp32[key])
        by_split.setdefault(key[0], []).append(diff)
        print(f"{key[0]:5} {key[1]:4} {key[2]:4}   {fp32[key]:.4f}  {bf16[key]:.4f}  {diff:+6.2f}")
    units = [statistics.mean(diffs) for diffs in by_split.values()]
    mean = statistics.mean(units)
    if len(units) < 2:
        print(f"mean {mean:+.2f} points over one split: no interval (give --splits 2 or more)")
        return 0
    half = stats.t.ppf(0.975, len(units) - 1) * statistics.stdev(units) / len(units) ** 0.5
    low, high = mean - half, mean + half
    pairs = [d for diffs in by_split.values() for d in diffs]
    print(
        f"bf16 - fp32: {mean:+.2f} points, 95% interval [{low:+.2f}, {high:+.2f}] over "
        f"{len(units)} splits ({len(pairs)} pairs; one pair's SD {statistics.stdev(pairs):.2f})"
    )
    inside = -BOUND < low and high < BOUND
    print(f"inside +-{BOUND} point: {'yes' if inside else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
