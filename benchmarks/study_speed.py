"""How fast featuretransfer runs a study, against the plain PyTorch loop on the same jobs.

    python benchmarks/study_speed.py [--preset fashion-mnist] [--quick] [--workers N]
    python benchmarks/study_speed.py --device cuda --fuse 1,16 --no-plain   # on a GPU

Runs the study's jobs with the tool (into a temporary folder) and with the plain reference
(benchmarks/plain_reference.py), in one run on this machine, and prints: the wall time of each and
the ratio; the mean top-1 of each and the difference; the study's FLOP count, the machine's
measured fp32 matmul rate and so the floor and the tool's distance from it; full-network training
as a fraction of the matmul rate; frozen jobs at n >= 5 against the plain loop. `--quick` takes the
base nets and the cuts n = 1 and 5 for one epoch. The last line reads
`speedup X.XXx, top1 diff Y.YY pts`.

`--fuse 1,16` runs the tool once per value (nets per stacked pass) and prints each one's time
against the first; `--device cuda` trains on the GPU (the plain reference is a CPU loop: give
`--no-plain` there) and measures the card's fp32 matmul rate instead of the CPU's.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from plain_reference import train_plain  # noqa: E402

from featuretransfer.nets.registry import build_model  # noqa: E402
from featuretransfer.nets.treatments import freeze  # noqa: E402
from featuretransfer.run.executors import InlineExecutor, ProcessExecutor, cpu_count  # noqa: E402
from featuretransfer.run.job import cache_cut, target_data  # noqa: E402
from featuretransfer.run.runner import run_jobs  # noqa: E402
from featuretransfer.study import store  # noqa: E402
from featuretransfer.study.plan import plan_study  # noqa: E402
from featuretransfer.study.studyfile import load_study, preset_path  # noqa: E402


def matmul_rate(threads: int, device: str = "cpu", repeats: int = 20) -> float:
    """Best fp32 matmul rate of this machine (or GPU) at `threads` threads, in FLOP/s."""
    torch.set_num_threads(threads)
    size = 1024 if device == "cpu" else 8192
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        started = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def synchronize(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(device)


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def job_flops(job) -> tuple[float, float]:
    """(FLOPs of the tool's work for this job, of which full-network training steps)."""
    train_data, val_data, test_data, classes = target_data(job)
    model = build_model(job.net, len(classes), 0, train_data.x.shape[1], train_data.x.shape[2])
    cut = cache_cut(model, job)
    if job.n_copied and not job.fine_tune:
        freeze(model, job.n_copied)
    x = torch.randn(1, *train_data.x.shape[1:])
    prefix = flops(lambda: model(x, stop=cut)) if cut else 0
    with torch.no_grad():
        features = model(x, stop=cut)
    forward = flops(lambda: model(features, start=cut))
    step = flops(lambda: model(features, start=cut).sum().backward())
    epochs = job.train.epochs
    n_train, n_eval = len(train_data.y), len(val_data.y) * epochs + len(test_data.y)
    total = prefix * (n_train + len(val_data.y) + len(test_data.y)) + step * n_train * epochs
    total += forward * n_eval
    return total, (step * n_train * epochs if job.treatment == "base" or job.fine_tune else 0.0)


def select(jobs, quick: bool):
    if not quick:
        return jobs
    keep = [j for j in jobs if j.treatment == "base" or j.n_copied in (1, 5)]
    return [
        dataclasses.replace(j, train=dataclasses.replace(j.train, epochs=1, lr_milestones=()))
        for j in keep
    ]


def run_tool(jobs, workers: int, device: str, fuse: int) -> tuple[float, dict]:
    """Wall seconds of the tool on `jobs` in a fresh folder, and its records by id."""
    with tempfile.TemporaryDirectory() as out:
        executor = InlineExecutor() if workers == 1 else ProcessExecutor(workers)
        synchronize(device)
        started = time.perf_counter()
        try:
            run_jobs(jobs, Path(out), executor, device, show_progress=False, fuse=fuse)
        finally:
            executor.shutdown()
        synchronize(device)
        return time.perf_counter() - started, {r["job_id"]: r for r in store.load_records(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="fashion-mnist")
    parser.add_argument("--quick", action="store_true", help="bases and n = 1, 5; one epoch")
    parser.add_argument(
        "--workers", type=int, default=1, help="the tool's worker processes (default 1, as `run`)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--fuse", default="1", help="nets per stacked pass; a list runs each")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain reference")
    args = parser.parse_args()
    fuses = [int(f) for f in args.fuse.split(",")]
    cores = cpu_count()
    jobs = select(plan_study(load_study(preset_path(args.preset))), args.quick)
    print(f"{len(jobs)} jobs of {args.preset}{' (quick)' if args.quick else ''}, {cores} cores")

    runs = {}
    for fuse in fuses:
        tool_seconds, tool = run_tool(jobs, args.workers, args.device, fuse)
        runs[fuse] = tool_seconds
        print(f"tool, --fuse {fuse}: {tool_seconds:8.1f} s on {args.device}", flush=True)
        if fuse != fuses[0]:
            print(f"  --fuse {fuse} is {runs[fuses[0]] / tool_seconds:.2f}x --fuse {fuses[0]}")
    # peak resident memory of this process (the inline executor) or of the largest worker
    peak = (
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 2**20
    )  # KiB -> GiB
    print(
        f"tool : {tool_seconds:8.1f} s  ({args.workers} workers), peak memory {peak:.2f} GiB "
        f"per process",
        flush=True,
    )
    tool_top1 = statistics.mean(tool[j.id]["top1"] for j in jobs)
    work = [job_flops(j) for j in jobs]
    total, full = sum(w[0] for w in work), sum(w[1] for w in work)
    rate = matmul_rate(cores, args.device)
    print(
        f"study: {total / 1e12:.2f} TFLOP; fp32 matmul rate {rate / 1e9:.0f} GFLOP/s "
        f"({args.device}); floor {total / rate:.1f} s; tool at {total / tool_seconds / rate:.2%} "
        f"of the rate ({tool_seconds / (total / rate):.1f}x the floor)"
    )
    if args.no_plain:
        print(f"mean top-1: tool {tool_top1:.4f}")
        return 0

    torch.set_num_threads(cores)
    plain, parents = {}, {}
    started = time.perf_counter()
    for job in jobs:  # plan order: base nets first
        result = train_plain(job, parents)
        parents[job.id] = result.pop("state")
        plain[job.id] = result
    plain_seconds = time.perf_counter() - started
    print(f"plain: {plain_seconds:8.1f} s  (1 process, {cores} threads)")

    plain_top1 = statistics.mean(plain[j.id]["top1"] for j in jobs)
    print(f"mean top-1: tool {tool_top1:.4f}, plain {plain_top1:.4f}")
    full_jobs = [j for j in jobs if j.treatment == "base" or j.fine_tune]
    full_seconds = sum(tool[j.id]["seconds"] for j in full_jobs) / args.workers
    print(
        f"full-network jobs: {full / full_seconds / 1e9:.1f} GFLOP/s of training steps = "
        f"{full / full_seconds / rate:.0%} of the matmul rate"
    )
    frozen = [j for j in jobs if j.n_copied >= 5 and not j.fine_tune]
    if frozen:
        ratio = statistics.mean(plain[j.id]["seconds"] / tool[j.id]["seconds"] for j in frozen)
        print(f"frozen jobs at n >= 5: {ratio:.2f}x faster than plain, per job")
    print(
        f"speedup {plain_seconds / tool_seconds:.2f}x, "
        f"top1 diff {100 * (tool_top1 - plain_top1):.2f} pts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
