"""Stopping a study cleanly: the first SIGINT or SIGTERM asks, the second ends at once.

The first signal only sets a flag. Training looks at it before every step (`stop_requested`);
once it is set, a net saves its checkpoint where it stands (mid-epoch: the epoch's data order,
the step and the partial loss sum; train.py, schedule.py) and raises `Interrupted`, so that
running the same command again ends with exactly the numbers of an undisturbed run. The runner
then launches nothing more and waits for the running nets; nothing is recorded as failed.

Where the flag lives:
- in the process that runs `run` (and the nets of the inline executor): `stop_on_signals`;
- in local worker processes: a multiprocessing Event that the parent sets (`share`), and the
  workers' own SIGINT/SIGTERM (a terminal sends Ctrl-C to every process in the foreground);
- in a Ray task: `ray.cancel` raises SIGINT's Python handler in the task's thread, which
  `stop_on_sigint` turns into the flag (Ray's default there is a KeyboardInterrupt at any
  bytecode, which would lose the steps since the last checkpoint).

A second signal in the `run` process raises KeyboardInterrupt at once; the CLI then kills the
workers. Checkpoints are written atomically (a temporary file, then os.replace), so whatever a
kill interrupts, the last complete checkpoint stays.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
NOTICE = (
    "\n{}: stopping; running nets stop at their next step and keep their checkpoints "
    "(Ctrl-C again ends at once)\n"
)

_requested = threading.Event()  # this process was asked to stop
_shared = None  # in a worker process: the parent's multiprocessing Event


class Interrupted(Exception):
    """Training stopped at a step boundary because a stop was asked; its checkpoint is saved."""


def stop_requested() -> bool:
    """Whether this process, or the process that started it, was asked to stop."""
    return _requested.is_set() or (_shared is not None and _shared.is_set())


def request_stop(*_) -> None:
    """Ask every net of this process to stop at its next step (also a signal handler)."""
    _requested.set()


def reset() -> None:
    """Forget an earlier stop (a new study in this process, or a new task in a Ray worker)."""
    _requested.clear()


def share(event) -> None:
    """In a worker process: stop also when the parent sets `event` (a multiprocessing Event)."""
    global _shared
    _shared = event


@contextlib.contextmanager
def stop_on_signals():
    """In the main thread of the `run` process: the first SIGINT/SIGTERM sets the flag (the
    runner passes it on to the executor from its own loop: a handler that called into Ray or a
    queue could deadlock on a lock the interrupted code holds); the second raises
    KeyboardInterrupt at once. The previous handlers come back on exit."""

    def handler(signum, frame):
        if _requested.is_set():
            raise KeyboardInterrupt
        _requested.set()
        # at once, so the user knows the signal arrived; os.write, because logging and
        # print take locks that the interrupted code may hold
        os.write(2, NOTICE.format(signal.Signals(signum).name).encode())

    reset()
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def stop_on_sigint():
    """In a Ray task: SIGINT (how `ray.cancel` reaches a running task) sets the flag instead
    of raising KeyboardInterrupt wherever the task stands. A no-op off the main thread."""
    reset()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
