"""Run a planned study on an executor: jobs start when their needs are DONE, with progress bars
(plain lines where stderr is not a terminal) and an ETA weighted by each net's cost (cost.py).

State comes from disk only: DONE jobs are skipped, so running a finished study trains nothing and
an interrupted one picks up where it stopped. A failed job does not stop the study; jobs that need
it are skipped, and both are reported at the end. Once a stop is asked (interrupt.py: the first
SIGINT or SIGTERM), nothing more is launched, the executor passes the stop on, and the running
nets end at their next step with their checkpoints saved: they count as to go, not as failed.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import autonotebook, std
from tqdm.auto import tqdm

from featuretransfer import store
from featuretransfer.run import interrupt
from featuretransfer.run.cost import StudyEta, prior_costs
from featuretransfer.run.executors import Executor
from featuretransfer.run.job import fuse_key, run_fused, run_job
from featuretransfer.specs import JobSpec
from featuretransfer.study.plan import needs

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    trained: list[str] = field(default_factory=list)  # ids finished by this run
    skipped_done: list[str] = field(default_factory=list)  # ids already DONE before
    failed: dict[str, str] = field(default_factory=dict)  # id -> one-line reason
    blocked: list[str] = field(default_factory=list)  # ids whose needs failed
    interrupted: bool = False  # a stop was asked: the jobs not trained are still to go


def draws_bars(stream) -> bool:
    """Whether tqdm's bars suit `stream`: a terminal, or a notebook (tqdm.auto draws widgets
    there); not a file or a batch system's log, where they leave carriage returns and ANSI
    codes."""
    if autonotebook.tqdm is not std.tqdm:
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class StudyBar(tqdm):
    """The bar over the study, its time to go weighted by each net's cost (`eta`, a function
    of nothing that gives seconds or None) instead of tqdm's count of nets."""

    eta = None

    @property
    def format_dict(self):
        seconds = self.eta() if self.eta else None
        eta = "?" if seconds is None else self.format_interval(seconds)
        return super().format_dict | {"weighted_eta": eta}  # tqdm's own {eta} is a date


class ProgressBars:
    """The study's progress (nets done / total, rate, ETA weighted by each net's cost: `costs`,
    job id -> cost of each net to train; cost.StudyEta) and each running net's.

    On a terminal, tqdm bars: one over the study and one per running net. `plain` (stderr is a
    file or a batch system's log) writes plain lines to `stream` instead, never a carriage
    return or an ANSI code: one per finished net, and while nets train at most one every
    `every` seconds. Nothing at all unless `enabled`.
    """

    def __init__(
        self,
        total: int,
        done: int,
        enabled: bool,
        costs: dict[str, float] | None = None,
        plain: bool = False,
        stream=None,
        every: float = 30.0,  # seconds between plain lines while nets train
        clock=time.monotonic,
    ):
        self.bars, self.lines = enabled and not plain, enabled and plain
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.n, self.trained = total, done, 0  # trained: nets done by this run
        self.every, self.clock = every, clock
        costs = costs or {}
        self.eta = StudyEta(costs, clock(), unlisted=total - done - len(costs))
        self.last_line = clock()
        self.names: dict[str, str] = {}  # running nets: id -> display name
        self.steps: dict[str, tuple[int, int]] = {}  # running nets: id -> (step, total)
        self.jobs: dict[str, tqdm] = {}
        self.free_slots: list[int] = []
        self.study = StudyBar(
            total=total,
            initial=done,
            desc="study",
            unit="net",
            position=0,
            disable=not self.bars,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed}<{weighted_eta}, {rate_fmt}{postfix}]",
        )
        self.study.eta = lambda: self.eta.seconds(self.clock())
        self.shown = clock()  # when the study bar was last drawn

    def start(self, job: JobSpec) -> None:
        self.names[job.id] = job.display_name
        if not self.bars:
            return
        slot = self.free_slots.pop(0) if self.free_slots else len(self.jobs) + 1
        self.jobs[job.id] = tqdm(
            total=None,  # unknown until training starts: not a made-up "0/1"
            desc=job.display_name,
            bar_format="{desc}: starting",
            unit="step",
            position=slot,
            leave=False,
            dynamic_ncols=True,
        )
        self.jobs[job.id].slot = slot

    def update(self, job_id: str, step: int, total: int, metrics: dict) -> None:
        if job_id not in self.names:
            return
        self.eta.progress(job_id, step, total)
        self.steps[job_id] = (step, total)
        now = self.clock()
        if self.lines and now - self.last_line >= self.every:
            self._line(now, self._training())
        bar = self.jobs.get(job_id)
        if bar is None:
            return
        bar.total, bar.bar_format = total, None
        bar.n = step
        if metrics:
            bar.set_postfix(val_acc=f"{metrics['val_acc']:.3f}", refresh=False)
        bar.refresh()
        if now - self.shown >= 1:  # the study's ETA moves with the steps, not only per net
            self.study.refresh()
            self.shown = now

    def finish(self, job_id: str, counted: bool = True) -> None:
        """Close the job's bar; `counted`: the job is done (an interrupted one is not)."""
        self.eta.finished(job_id, counted)
        name = self.names.pop(job_id, job_id)
        self.steps.pop(job_id, None)
        bar = self.jobs.pop(job_id, None)
        if bar is not None:
            self.free_slots.append(bar.slot)
            self.free_slots.sort()
            bar.close()
        if counted:
            self.n += 1
            self.trained += 1
            self.study.update(1)
        if self.lines:
            self._line(self.clock(), f"{name} {'done' if counted else 'not done'}")

    def skip(self, job_id: str, done: bool) -> None:
        """A net this run does not train: `done` (found current), or blocked by a failed need."""
        self.eta.dropped(job_id)
        if done:
            self.n += 1
            self.study.update(1)

    def _training(self) -> str:
        """The running nets and how far each is, for a plain line."""
        shown = [
            f"{self.names[i]} {step / total:.0%}" if total else f"{self.names[i]} starting"
            for i, (step, total) in self.steps.items()
        ]
        more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
        return f"training {', '.join(shown[:4])}{more}" if shown else "starting"

    def _line(self, now: float, what: str) -> None:
        elapsed = now - self.eta.start
        rate = f"{elapsed / self.trained:.1f} s/net" if self.trained else "? s/net"
        seconds = self.eta.seconds(now)
        eta = "?" if seconds is None else tqdm.format_interval(seconds)
        self.stream.write(
            f"[{tqdm.format_interval(elapsed)}] study {self.n}/{self.total} nets, {rate}, "
            f"ETA {eta}: {what}\n"
        )
        self.stream.flush()
        self.last_line = now

    def close(self) -> None:
        for bar in self.jobs.values():
            bar.close()
        self.study.close()


def run_jobs(
    jobs: list[JobSpec],
    out: Path,
    executor: Executor,
    device: str = "cpu",
    show_progress: bool = True,
    fuse: int = 1,
    tensorboard=None,
) -> RunSummary:
    """Run every job of `jobs` (in dependency order) that is not DONE under `out`.

    `device` may list several ("cuda:0,cuda:1"): jobs are dealt over them in turn, so each GPU
    trains as many jobs at once as there are workers for it. With `fuse` > 1, up to `fuse`
    ready jobs of one `fuse_key` train as one stacked model in one worker (`run_fused`).
    `tensorboard` (a tensorboard.TensorBoardLog) gets every progress event and finished job.
    """
    devices = itertools.cycle(device.split(","))
    out = Path(out)
    if store.read_plan(out) is None:  # a folder no study was written into: these jobs are its
        out.mkdir(parents=True, exist_ok=True)  # plan (`run` and `estimate` write the study's)
        store.write_plan(out, jobs)
    summary = RunSummary()
    states = store.states(out, store.plan_entries(jobs))
    # Kept: current nets whose parent is current too. A net whose parent is redone waits for
    # it, and is kept after all if the redone parent has the weights it copied (bit-identical).
    done = _kept(jobs, states)
    summary.skipped_done = sorted(done)
    pending = [j for j in jobs if j.id not in done]
    for job in pending:
        if states[job.id] in (store.DAMAGED, store.STALE):
            log.warning("%s is %s: it is redone", job.display_name, states[job.id])
            store.clear_job(out, job.id)
    # the study's ETA weighs each net by its expected cost (cost.py); counts nets if unknown
    costs = (prior_costs(pending) if show_progress else None) or {j.id: 1.0 for j in pending}
    bars = ProgressBars(
        len(jobs), len(done), show_progress, costs, plain=not draws_bars(sys.stderr)
    )
    executor.callback = bars.update
    if tensorboard is not None:

        def on_progress(*event) -> None:
            bars.update(*event)
            tensorboard.update(*event)

        executor.callback = on_progress
    capacity = executor.max_workers
    running: dict[Future, list[JobSpec]] = {}
    try:
        while pending or running:
            if interrupt.stop_requested() and not summary.interrupted:
                summary.interrupted = True
                executor.cancel()
            if summary.interrupted:
                if not running:
                    break
                pending = []  # launched no more; still to go on disk
            for job in list(pending):
                blockers = [n for n in needs(job) if n in summary.failed or n in summary.blocked]
                if blockers:
                    summary.blocked.append(job.id)
                    pending.remove(job)
                    bars.skip(job.id, done=False)
            ready = [j for j in pending if all(n in done for n in needs(j))]
            for job in [j for j in ready if store.is_current(out, j)]:  # its parent redone alike
                ready.remove(job)
                pending.remove(job)
                done.add(job.id)
                summary.skipped_done.append(job.id)
                bars.skip(job.id, done=True)
            while ready and len(running) < capacity:
                group = fuse_group(ready, fuse)
                for job in group:
                    ready.remove(job)
                    pending.remove(job)
                    bars.start(job)
                progress = [executor.progress_for(job.id) for job in group]
                if len(group) == 1:
                    future = executor.submit(run_job, group[0], out, progress[0], next(devices))
                else:
                    future = executor.submit(run_fused, group, out, progress, next(devices))
                running[future] = group
            if not running:
                if pending:  # needs that this plan never runs: cannot happen for a valid plan
                    summary.blocked += [j.id for j in pending]
                break
            finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            executor.poll()
            for future in finished:
                group = running.pop(future)
                error = None if future.cancelled() else future.exception()
                if isinstance(error, interrupt.Interrupted) or future.cancelled():
                    interrupt.request_stop()  # a worker was stopped: so is the study
                for job in group:
                    if error is None and not future.cancelled():
                        done.add(job.id)
                        summary.trained.append(job.id)
                        if tensorboard is not None:
                            tensorboard.finished(job.id)
                    elif interrupt.stop_requested():  # stopped, or lost to the stop: to go
                        log.info("job %s stopped: %s", job.id, error)
                    else:
                        reason = f"{job.display_name}: {type(error).__name__}: {error}"
                        summary.failed[job.id] = reason
                        log.error("job %s failed: %s", job.id, reason)
                    bars.finish(job.id, counted=job.id in done)
    finally:
        bars.close()
        # the study's plan (plan.json) decides what results.csv holds, not the jobs of this
        # call: `estimate` runs the base nets alone and must not drop the study's other rows
        store.write_results_csv(out)
    return summary


def _kept(jobs: list[JobSpec], states: dict[str, str]) -> set[str]:
    """The jobs a run keeps as they are: DONE, with every need kept (jobs in dependency order)."""
    kept: set[str] = set()
    for job in jobs:
        if states[job.id] == store.DONE and all(n in kept for n in needs(job)):
            kept.add(job.id)
    return kept


def fuse_group(ready: list[JobSpec], fuse: int) -> list[JobSpec]:
    """The first ready job and up to fuse - 1 more ready jobs that can train with it."""
    key = fuse_key(ready[0]) if fuse > 1 else None
    if key is None:
        return ready[:1]
    return [j for j in ready if fuse_key(j) == key][:fuse]
