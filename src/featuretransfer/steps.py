"""The steps `run` and `estimate` take before and around training, written once for the command
line (cli.py) and the Python API (api.py): where a local run trains, the study resolved for that
device, planned and checked before anything trains, the output folder held and written, the nets
trained and the executor shut down.

Below cli and api in the import contract; raises the package's one-line errors (UsageError for a
bad argument) and never prints but the one line that says what runs.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import torch

from featuretransfer import store
from featuretransfer.analysis.estimate import EstimateSpec, check_estimate
from featuretransfer.analysis.features import EstimateError
from featuretransfer.data.dataset import DataError
from featuretransfer.data.registry import load_dataset
from featuretransfer.nets.units import ModelError
from featuretransfer.report.results import ReportError
from featuretransfer.run import interrupt
from featuretransfer.run.executors import InlineExecutor, ProcessExecutor
from featuretransfer.run.job import check_models
from featuretransfer.run.runner import run_jobs
from featuretransfer.study.datacheck import check_against_data
from featuretransfer.study.folder import (
    FolderError,
    check_same_study,
    set_aside,
    study_data_path,
    study_folder,
    write_study_files,
)
from featuretransfer.study.lock import FolderBusy, folder_lock
from featuretransfer.study.plan import PlanError, plan_study
from featuretransfer.study.precision import resolve_precision
from featuretransfer.study.source import SourceError
from featuretransfer.study.splits import SplitError
from featuretransfer.study.studyfile import load_study
from featuretransfer.study.studyspec import StudyError, StudySpec

DEFAULT_PRESET = "fashion-mnist"
# Nets per stacked pass on a GPU (`--fuse auto`). On the 2-core CPU a stack of 7 half-width nets
# ran at 0.52-0.62x the speed of the same nets one by one, so CPUs train nets alone.
FUSE_ON_GPU = 16
USER_ERRORS = (
    *(StudyError, DataError, SplitError, PlanError, ReportError),
    *(ModelError, SourceError, EstimateError, FolderError, FolderBusy, store.StoreError),
)


class UsageError(Exception):
    """Bad input to a command or an API call (an argument, not a file): one line, exit code 2
    from the command line, ValueError from the API."""


def local_device(name: str, flag: str = "--device") -> str:
    """Where a local run trains (`pick_device`; api.py's `device=`, named by `flag` in errors)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"{flag} {name}: use auto, cpu, cuda or cuda:N") from None
    count = torch.cuda.device_count()
    if device.type == "cuda":
        if not count or (device.index is not None and device.index >= count):
            raise UsageError(
                f"{flag} {name}: this machine has {count} CUDA device(s); use {flag} cpu or auto"
            )
    elif device.type != "cpu":
        raise UsageError(f"{flag} {name}: use auto, cpu, cuda or cuda:N")
    if name == "cuda" and count > 1:
        return ",".join(f"cuda:{i}" for i in range(count))
    return name


def prepare_run(
    study: StudySpec, out: Path, device: str, hold: contextlib.ExitStack, aside: bool = False
) -> tuple[StudySpec, list, Path | None]:
    """(study, jobs, where --set-aside moved the folder's earlier study): the study resolved
    for `device`, planned and checked before anything trains, and `out` held by this process
    until `hold` closes. Shared by `run` and api.run_study."""
    study = resolve_precision(study, device)  # the nets' ids name the precision they train in
    jobs = plan_study(study)
    # fail now, with one line, if the data cannot be found or read or do not fit the study
    check_against_data(study, load_dataset(study.data))
    check_models(jobs)  # and if a user's model or a pretrained source does not fit them
    # one writer per folder, from here to the report (released when the command returns)
    hold.enter_context(folder_lock(out, "run"))
    moved = None
    if aside:  # only once the study is known to run: nothing moves for a bad one
        moved = set_aside(out, jobs)
    check_same_study(out, study)
    return study, jobs, moved


def train_study(study, path, out, jobs, executor, device, fuse, tensorboard, show_progress):
    """Write the study into `out`, run its jobs, shut the executor down: gently, or at once
    where anything (a second Ctrl-C, even while the workers wind down) breaks off."""
    try:
        write_study_files(out, path, study, jobs)
        print(f"study {study.name}: {len(jobs)} nets, output in {out}", file=sys.stderr)
        summary = run_jobs(
            jobs,
            out,
            executor,
            device=device,
            show_progress=show_progress,
            fuse=fuse,
            tensorboard=tensorboard,
        )
    except BaseException:
        executor.shutdown(at_once=True)
        raise
    try:
        executor.shutdown()
    except KeyboardInterrupt:
        executor.shutdown(at_once=True)
        raise
    return summary


def study_of_folder(folder: Path, data: str | None = None) -> tuple[StudySpec, Path]:
    """(study, its study file) of a study's output folder, with its data where they lay when
    it ran (or at `data`). Shared by `estimate DIR` and api.estimate."""
    if not (folder / "study.toml").is_file():
        raise FolderError(f"{folder} holds no study (no study.toml): give a folder made by 'run'")
    path = folder / "study.toml"
    data = data or study_data_path(folder)
    return load_study(path, data_path=data, base=study_folder(folder), device=None), path


def prepare_estimate(
    study: StudySpec, path: Path, out: Path, device: str, hold: contextlib.ExitStack
) -> tuple[StudySpec, list, list, EstimateSpec]:
    """(study, plan, its base nets, the estimate's settings): the study resolved for `device`,
    planned and checked before anything trains, written into `out`, which this process holds
    until `hold` closes. Shared by `estimate` and api.estimate."""
    study = resolve_precision(study, device)
    plan = plan_study(study)
    # the main experiment's base nets (not the data-volume nor the longer-trained ones)
    bases = [job for job in plan if job.treatment == "base" and job.role == "main"]
    # fail now, with one line, if the data cannot be found or read or do not fit the study,
    # or if the estimate cannot run on this study's model or source: before anything trains
    check_against_data(study, load_dataset(study.data))
    spec = EstimateSpec(margin=study.report.margin)
    check_estimate(plan, spec)
    hold.enter_context(folder_lock(out, "estimate"))
    check_same_study(out, study)
    write_study_files(out, path, study, plan)
    return study, plan, bases, spec


def train_bases(bases: list, out: Path, device: str, show_progress: bool):
    """Train the base nets an estimate reads, in this process (those DONE are skipped)."""
    executor = InlineExecutor()
    try:
        with interrupt.stop_on_signals():
            return run_jobs(bases, out, executor, device=device, show_progress=show_progress)
    finally:
        executor.shutdown()


def output_dir(args, study: StudySpec) -> Path:
    out = Path(args.out) if args.out else Path("runs") / study.name
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the study's output")
    return out


def make_executor(args, study: StudySpec):
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: give 1 or more threads per net")
    if args.executor == "local":
        if args.address:
            raise UsageError("--address needs --executor ray")
        if args.workers == 1:
            return InlineExecutor(args.threads)
        return ProcessExecutor(args.workers, args.threads)
    if args.threads is not None:
        raise UsageError(
            "--threads is for local runs; a Ray task trains with [resources] cpus threads"
        )
    try:  # Ray is an optional extra: imported only when asked for
        from featuretransfer.run.ray_executor import ClusterError, RayExecutor
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'featuretransfer[ray]'") from None
    try:
        return RayExecutor(
            args.address, num_cpus=study.resources.cpus, num_gpus=study.resources.gpus
        )
    except ClusterError as e:
        raise UsageError(str(e)) from None


def pick_device(args, study: StudySpec) -> str:
    """Where jobs train. Ray: "cuda" when the study asks for GPUs (Ray hands each task its
    own). Local: --device, where "auto" takes the GPU if there is one; plain "cuda" on a
    machine with several GPUs gives "cuda:0,cuda:1,...", over which the runner deals jobs."""
    if args.executor == "ray":
        return "cuda" if study.resources.gpus > 0 else "cpu"
    return local_device(args.device)


def to_go(jobs, out: Path) -> str:
    done = sum(s == store.DONE for s in store.states(out, store.plan_entries(jobs)).values())
    return f"{done} nets done, {len(jobs) - done} to go; run the same command to resume"
