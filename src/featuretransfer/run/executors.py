"""Executors behind one interface (`Executor`): `submit(fn, *args) -> Future`, plus progress.

InlineExecutor runs each call at once in this process (tests, debugging). ProcessExecutor runs
calls in worker processes, each with its share of the CPU threads; workers send progress through
a queue that the caller drains with `poll()`. The Ray executor (ray_executor.py) runs each call
as a task on a cluster. `cancel()` asks running calls to stop at their next training step
(interrupt.py); `shutdown(at_once=True)` kills what still runs.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol, runtime_checkable

import torch

from featuretransfer.run import interrupt


@runtime_checkable
class Executor(Protocol):
    """What the runner (runner.run_jobs) needs of an executor: all a new one (submitit, a SLURM
    array) must implement. A call is a Python function and its arguments, `run_job(spec, out,
    progress, device)` or `run_fused(...)`, which writes its job folders and returns paths, never
    weights: the output folder is the only state, so the executor needs none of its own."""

    max_workers: int  # calls that may run at once
    # set by the runner: gets (job_id, step, total, metrics) for every progress event
    callback: Callable | None

    def progress_for(self, job_id: str) -> Callable:
        """A progress callback (step, total, metrics) for the job's call to take with it; it
        must reach `callback` in this process, at once or by the next `poll()`."""

    def submit(self, fn: Callable, *args) -> Future:
        """Start fn(*args); the future holds its result or its exception."""

    def poll(self) -> None:
        """Hand the progress events received since the last poll to `callback`."""

    def cancel(self) -> None:
        """Ask every running call to stop at its next training step (its checkpoint saved)."""

    def shutdown(self, at_once: bool = False) -> None:
        """Wait for running calls to end, or with `at_once` end them now."""


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class InlineExecutor:
    """Runs every call at submit time; progress goes straight to the callback."""

    max_workers = 1

    def __init__(self, threads: int | None = None):
        self.threads = threads or cpu_count()
        torch.set_num_threads(self.threads)
        self.callback: Callable | None = None  # (job_id, step, total, metrics), set by the runner

    def progress_for(self, job_id: str) -> Callable:
        return functools.partial(self._report, job_id)

    def _report(self, job_id: str, *event) -> None:
        if self.callback:
            self.callback(job_id, *event)

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as e:  # the caller sees it through the future, as with processes
            future.set_exception(e)
        # KeyboardInterrupt (a second Ctrl-C) goes up at once: the user wants out, now
        return future

    def poll(self) -> None:
        pass

    def cancel(self) -> None:
        """Nothing to pass on: the nets run in this process, which holds the stop flag."""

    def shutdown(self, at_once: bool = False) -> None:
        pass


class QueueReporter:
    """A picklable progress callback for a job in a worker: puts (job_id, step, total, metrics)."""

    def __init__(self, events, job_id: str):
        self.events, self.job_id = events, job_id

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        try:
            self.events.put((self.job_id, step, total, metrics))
        except (OSError, EOFError):  # the parent's queue is gone (killed): progress is never
            pass  # worth a failed net, nor a stop before its checkpoint is saved


def _init_worker(threads: int, stop) -> None:
    torch.set_num_threads(threads)  # workers share the cores: no oversubscription
    torch.set_num_interop_threads(1)
    # Stop at the next step when the parent says so (`stop`), or when a signal reaches the
    # worker itself: Ctrl-C goes to every process of the terminal's foreground group, a batch
    # system's SIGTERM often to every process of the job. A second one changes nothing here;
    # the parent kills the workers on its second.
    interrupt.share(stop)
    for s in interrupt.STOP_SIGNALS:
        signal.signal(s, interrupt.request_stop)


class ProcessExecutor:
    """`max_workers` spawned processes, the cores divided evenly between them."""

    def __init__(self, max_workers: int, threads: int | None = None):
        if max_workers < 1:
            raise ValueError(f"--workers {max_workers}: give 1 or more worker processes")
        self.max_workers = max_workers
        self.threads = threads or max(1, cpu_count() // max_workers)
        context = multiprocessing.get_context("spawn")  # fork after torch init can deadlock
        self.stop = context.Event()
        self.pool = ProcessPoolExecutor(
            max_workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.threads, self.stop),
        )
        self.manager = context.Manager()
        self.events = self.manager.Queue()
        self.callback: Callable | None = None  # (job_id, step, total, metrics), set by the runner

    def progress_for(self, job_id: str) -> QueueReporter:
        return QueueReporter(self.events, job_id)

    def submit(self, fn: Callable, *args) -> Future:
        return self.pool.submit(fn, *args)

    def poll(self) -> None:
        """Hand every progress event that workers sent to the callback."""
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            if self.callback:
                self.callback(*event)

    def cancel(self) -> None:
        """Running calls stop at their next training step; queued ones never start."""
        self.stop.set()

    def shutdown(self, at_once: bool = False) -> None:
        """Wait for the workers, or with `at_once` kill them where they stand (their last
        checkpoints stay: every checkpoint is written to a temporary file, then renamed)."""
        if at_once:
            # the pool has no public kill before Python 3.14 (terminate_workers)
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.kill()
        self.pool.shutdown(wait=not at_once, cancel_futures=True)
        self.manager.shutdown()
