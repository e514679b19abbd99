"""Where a full-network training step and a whole job spend their time (CPU).

    python benchmarks/profile_step.py [--steps 30] [--precision bf16|fp32] [--job]

Step: the default study's half-width ConvNet8, batch 128, channels-last, torch.profiler over
`--steps` steps after a warm-up; prints the ops by self CPU time, forward and backward together.
`--job` runs the default study's baseB job end to end under cProfile and prints where the wall
time outside the training steps goes (data, model build, evaluation, checkpoints).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from featuretransfer.nets.registry import build_model
from featuretransfer.run.images import autocast
from featuretransfer.run.train import keep_freed_memory
from featuretransfer.specs import NetSpec
from featuretransfer.study.plan import plan_study
from featuretransfer.study.studyfile import load_study, preset_path


def profile_step(steps: int, threads: int, precision: str = "fp32") -> None:
    keep_freed_memory()  # as train() does
    model = build_model(NetSpec(name="convnet8", width=0.5), 5, 0)
    model = model.to(memory_format=model.memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 5, (128,))

    def step():
        with autocast("cpu", precision):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(20):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - started) / steps
    print(
        f"{per_step * 1e3:.2f} ms per step (batch 128, {threads} threads, {precision}), no profiler"
    )
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            step()
    table = prof.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total",
        row_limit=40,
        max_name_column_width=40,
        max_shapes_column_width=70,
    )
    print(table)


def profile_job() -> None:
    from featuretransfer.run.job import run_job

    jobs = plan_study(load_study(preset_path("fashion-mnist")))  # "auto" precision: this machine's
    job = next(j for j in jobs if j.treatment == "base" and j.target == "B")
    with tempfile.TemporaryDirectory() as out:
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        run_job(job, Path(out))
        profiler.disable()
        print(f"job {job.display_name}: {time.perf_counter() - started:.1f} s")
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--job", action="store_true", help="profile a whole base-net job")
    parser.add_argument("--precision", default="bf16", choices=("fp32", "bf16"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.job:
        profile_job()
    else:
        profile_step(args.steps, args.threads, args.precision)


if __name__ == "__main__":
    main()
