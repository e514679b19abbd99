"""Executors behind one interface: `submit(fn, *args) -> Future`, plus progress reporting.

InlineExecutor runs each call at once in this process (tests, debugging). ProcessExecutor runs
calls in worker processes, each with its share of the CPU threads; workers send progress through
a queue that the caller drains with `poll()`.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import queue
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

import torch


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class InlineExecutor:
    """Runs every call at submit time; progress goes straight to the callback."""

    max_workers = 1

    def __init__(self, threads: int | None = None):
        torch.set_num_threads(threads or cpu_count())
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
        except BaseException as e:  # the caller sees it through the future, as with processes
            future.set_exception(e)
        return future

    def poll(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class QueueReporter:
    """A picklable progress callback for a job in a worker: puts (job_id, step, total, metrics)."""

    def __init__(self, events, job_id: str):
        self.events, self.job_id = events, job_id

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        self.events.put((self.job_id, step, total, metrics))


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)  # workers share the cores: no oversubscription
    torch.set_num_interop_threads(1)


class ProcessExecutor:
    """`max_workers` spawned processes, the cores divided evenly between them."""

    def __init__(self, max_workers: int, threads: int | None = None):
        if max_workers < 1:
            raise ValueError(f"--workers {max_workers}: give 1 or more worker processes")
        self.max_workers = max_workers
        threads = threads or max(1, cpu_count() // max_workers)
        context = multiprocessing.get_context("spawn")  # fork after torch init can deadlock
        self.pool = ProcessPoolExecutor(
            max_workers, mp_context=context, initializer=_init_worker, initargs=(threads,)
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

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.manager.shutdown()
