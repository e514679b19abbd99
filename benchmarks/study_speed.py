"""How fast featuretransfer runs a study in fp32 and in bf16, against the plain PyTorch loop on
the same jobs, with the accuracy beside each, and where the tool's time goes.

    python benchmarks/study_speed.py                       # the earlier 30-net default
    python benchmarks/study_speed.py --study FILE.toml | --preset NAME [--quick]
    python benchmarks/study_speed.py --precisions fp32,bf16 --no-plain
    python benchmarks/study_speed.py --preset fashion-mnist --device cuda --fuse 1,16 --no-plain

Runs the study's jobs with the tool once per precision (into temporary folders) and with the
plain reference (benchmarks/plain_reference.py: fp32, NCHW, nn.LocalResponseNorm, every layer at
every step), all in this one run on this machine, and prints per run its wall time, the mean
top-1 of its nets and their difference to the plain loop's, the speedup of each against the
plain loop and of bf16 against fp32; a full-network training step of the study's net in each
precision (images/s); and, for the last tool run, the share of its time in training steps,
evaluation, caching frozen prefixes, data (loading, batches), checkpoints and records, and the
rest (planning, the runner, Python). `--quick` keeps the base nets and the cuts 1 and 5, for
one epoch. `--device cuda --fuse 1,16` runs the tool on a GPU once per value of nets per
stacked pass (the plain loop is a CPU loop: give `--no-plain` there). The last line reads
`speedup X.XXx (bf16) against plain fp32, top1 diff Y.YY pts`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from plain_reference import train_plain  # noqa: E402

from featuretransfer import store  # noqa: E402
from featuretransfer.nets.registry import build_model  # noqa: E402
from featuretransfer.run import images as images_module  # noqa: E402
from featuretransfer.run import job as job_module  # noqa: E402
from featuretransfer.run import jobfolder as jobfolder_module  # noqa: E402
from featuretransfer.run import schedule as schedule_module  # noqa: E402
from featuretransfer.run import train as train_module  # noqa: E402
from featuretransfer.run.executors import InlineExecutor, cpu_count  # noqa: E402
from featuretransfer.run.runner import run_jobs  # noqa: E402
from featuretransfer.study.plan import plan_study  # noqa: E402
from featuretransfer.study.studyfile import load_study, preset_path  # noqa: E402

EARLIER_DEFAULT = Path(__file__).parent / "studies" / "earlier-default.toml"


class Profile:
    """Exclusive wall time per category: a call inside another category's call pauses it, so the
    categories add up to the time spent in them; the rest of the run is "rest"."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.stack: list[str] = []
        self.since = time.perf_counter()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self.stack:
            self.seconds[self.stack[-1]] += now - self.since
        self.since = now

    def wrap(self, owner, name: str, category: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self._switch()
            self.stack.append(category)
            try:
                return original(*args, **kwargs)
            finally:
                self._switch()
                self.stack.pop()

        setattr(owner, name, timed)


@contextlib.contextmanager
def profiled():
    """Time the tool's parts by category while the block runs (the functions the runner's
    jobs call, patched where they are looked up), then restore them."""
    profile = Profile()
    patches = [
        (job_module, "train", "training steps"),
        (jobfolder_module, "evaluate", "evaluation"),
        (train_module, "evaluate", "evaluation"),
        (job_module, "prefix_features", "caching"),
        (job_module, "target_data", "data"),
        (images_module.Images, "batch", "data"),
        (job_module, "build_net", "building nets"),
        (job_module.JobFolder, "save_state", "checkpoints and records"),
        (store, "save_weights", "checkpoints and records"),
        (store, "mark_done", "checkpoints and records"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, category in patches:
        profile.wrap(owner, name, category)
    try:
        yield profile
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def select(jobs, quick: bool):
    if not quick:
        return jobs
    keep = [j for j in jobs if j.treatment == "base" or j.n_copied in (1, 5)]
    return [
        dataclasses.replace(j, train=dataclasses.replace(j.train, epochs=1, lr_milestones=()))
        for j in keep
    ]


def with_precision(jobs, precision: str):
    return [
        dataclasses.replace(j, train=dataclasses.replace(j.train, precision=precision))
        for j in jobs
    ]


def run_tool(jobs, device: str = "cpu", fuse: int = 1) -> tuple[float, dict, Profile]:
    """Wall seconds of the tool on `jobs` in a fresh folder, its records by id, its profile."""
    with tempfile.TemporaryDirectory() as out, profiled() as profile:
        synchronize(device)
        started = time.perf_counter()
        run_jobs(jobs, Path(out), InlineExecutor(), device, show_progress=False, fuse=fuse)
        synchronize(device)
        seconds = time.perf_counter() - started
        return seconds, {r["job_id"]: r for r in store.load_records(out)}, profile


def synchronize(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(device)


def step_rate(job, precision: str, steps: int = 40) -> float:
    """Images per second of a full-network training step of the job's net (batch as trained)."""
    model = build_model(job.net, 5, 0).to(memory_format=torch.channels_last).train()
    optimizer = schedule_module.make_optimizer(dict(model.named_parameters()), job.train)
    size = job.train.batch_size
    x = torch.randn(size, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 5, (size,))

    def step():
        with images_module.autocast("cpu", precision):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(10):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * size / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", default=str(EARLIER_DEFAULT), help="a study file")
    parser.add_argument("--preset", help="a shipped study instead of --study")
    parser.add_argument("--quick", action="store_true", help="bases and n = 1, 5; one epoch")
    parser.add_argument("--precisions", default="fp32,bf16", help="the tool's runs, in order")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain reference")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--fuse", default="1", help="nets per stacked pass; a list runs each")
    args = parser.parse_args()
    fuses = [int(f) for f in args.fuse.split(",")]
    path = preset_path(args.preset) if args.preset else Path(args.study)
    cores = cpu_count()
    torch.set_num_threads(cores)
    study = load_study(path, device=None)
    precisions = args.precisions.split(",")
    base_jobs = select(
        plan_study(
            dataclasses.replace(study, train=dataclasses.replace(study.train, precision="fp32"))
        ),
        args.quick,
    )
    print(f"{len(base_jobs)} jobs of {path.name}{' (quick)' if args.quick else ''}, {cores} cores")

    if args.device == "cpu":
        for precision in precisions:  # on the same warm machine as the runs below
            rate = step_rate(base_jobs[0], precision)
            print(f"full-network step, {precision}: {rate:,.0f} images/s")
    runs = {}
    for precision in precisions:
        jobs = with_precision(base_jobs, precision)
        for fuse in fuses:
            seconds, records, profile = run_tool(jobs, args.device, fuse)
            top1 = statistics.mean(records[j.id]["top1"] for j in jobs)
            fused = f", --fuse {fuse}" if len(fuses) > 1 else ""
            print(f"tool {precision}{fused}: {seconds:8.1f} s, mean top-1 {top1:.4f}", flush=True)
        runs[precision] = (seconds, top1, profile)
    if len(precisions) > 1:
        first, last = runs[precisions[0]][0], runs[precisions[-1]][0]
        print(f"tool {precisions[-1]} is {first / last:.2f}x tool {precisions[0]}")
    seconds, _, profile = runs[precisions[-1]]
    print(f"where tool {precisions[-1]}'s {seconds:.1f} s go:")
    for category, spent in sorted(profile.seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {category:24} {spent:8.1f} s  {spent / seconds:6.1%}")
    rest = seconds - sum(profile.seconds.values())
    print(f"  {'rest (runner, Python)':24} {rest:8.1f} s  {rest / seconds:6.1%}")
    if args.no_plain:
        return 0

    plain, parents = {}, {}
    started = time.perf_counter()
    for job in base_jobs:  # plan order: base nets first
        result = train_plain(job, parents)
        parents[job.id] = result.pop("state")
        plain[job.id] = result
    plain_seconds = time.perf_counter() - started
    plain_top1 = statistics.mean(plain[j.id]["top1"] for j in base_jobs)
    print(f"plain fp32: {plain_seconds:8.1f} s, mean top-1 {plain_top1:.4f}")
    for precision, (seconds, top1, _) in runs.items():
        print(
            f"tool {precision} against plain fp32: {plain_seconds / seconds:.2f}x, top-1 "
            f"{100 * (top1 - plain_top1):+.2f} pts"
        )
    seconds, top1, _ = runs[precisions[-1]]
    print(
        f"speedup {plain_seconds / seconds:.2f}x ({precisions[-1]}) against plain fp32, "
        f"top1 diff {100 * (top1 - plain_top1):.2f} pts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
