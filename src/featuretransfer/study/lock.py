"""One writer per output folder: an advisory lock that `run`, `estimate` and `report` hold while
they write, so that two processes never train or record the same nets at once.

    with folder_lock(out, "run"):      # FolderBusy (one line, exit 2) if another process holds it
        ...

The lock is `flock` on DIR/.lock, which the kernel releases when its process ends, however it
ends (even SIGKILL): a lock left by a killed process is no lock, and the next command takes it
over and says so. The file also holds who took it (command, pid, host, start time), for the
message a second process gets. `status` reads the folder without the lock. On a Ray cluster the
driver (the `run` process) holds it; its tasks write their own job folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK = ".lock"


class FolderBusy(Exception):
    """Another process writes this output folder (or none can); one line, exit code 2."""


def holder(out: Path) -> dict | None:
    """Who took the folder's lock last (command, pid, host, started), if anyone wrote it."""
    try:
        found = json.loads((Path(out) / LOCK).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def is_locked(out: Path) -> bool:
    """Whether a live process holds the folder's lock now. Tests with a shared lock, taken and
    dropped at once: it never blocks a writer that holds the lock, and a writer arriving in
    that instant waits for it (folder_lock retries for a moment)."""
    path = Path(out) / LOCK
    if not path.is_file():
        return False
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def describe(found: dict | None) -> str:
    if not found:
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(found.get("started", 0)))
    return (
        f"'featuretransfer {found.get('command', '?')}' (pid {found.get('pid', '?')} on "
        f"{found.get('host', '?')}, since {started})"
    )


@contextlib.contextmanager
def folder_lock(out: Path, command: str, wait_seconds: float = 1.0):
    """Hold the output folder's lock for the block (see the module docstring)."""
    out = Path(out)
    path = out / LOCK
    try:
        out.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")
    except OSError as e:
        raise FolderBusy(
            f"cannot write to --out {out}: {e.strerror}; choose a writable folder"
        ) from None
    try:
        deadline = time.monotonic() + wait_seconds  # `status` may hold a shared lock briefly
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise FolderBusy(
                        f"{out} is being written by {describe(holder(out))}; wait for it to "
                        "end (featuretransfer status DIR shows its progress), or give another "
                        "--out"
                    ) from None
                time.sleep(0.05)
        earlier = holder(out)
        if earlier and earlier.get("pid") != os.getpid():
            log.warning("took over the lock of %s, which is no longer running", describe(earlier))
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps(
                {
                    "command": command,
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": time.time(),
                }
            )
        )
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()  # a released lock names nobody
            f.flush()
    finally:
        f.close()  # closing releases the flock
