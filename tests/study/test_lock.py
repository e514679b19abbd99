"""One writer per output folder: a second process is refused with the holder's name; a lock
left by a killed process is taken over; `status` reads without taking it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from featuretransfer.study import lock

HOLD = """
import sys, time
from featuretransfer.study.lock import folder_lock
with folder_lock(sys.argv[1], "run"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder_process(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_second_writer_is_refused_with_the_holder(tmp_path, holder_process):
    assert lock.is_locked(tmp_path)
    with pytest.raises(lock.FolderBusy) as busy:
        with lock.folder_lock(tmp_path, "report", wait_seconds=0.2):
            pass
    message = str(busy.value)
    assert f"'featuretransfer run' (pid {holder_process.pid} on " in message
    assert "\n" not in message and "--out" in message


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, holder_process, caplog):
    os.kill(holder_process.pid, signal.SIGKILL)
    holder_process.wait(timeout=30)
    assert not lock.is_locked(tmp_path)  # the kernel dropped it with the process
    assert lock.holder(tmp_path)["pid"] == holder_process.pid  # its note is still there
    with caplog.at_level(logging.WARNING), lock.folder_lock(tmp_path, "run"):
        assert lock.holder(tmp_path)["pid"] == os.getpid()
    assert f"pid {holder_process.pid}" in caplog.text and "no longer running" in caplog.text
    assert lock.holder(tmp_path) is None  # released: names nobody


def test_is_locked_never_blocks_the_holder(tmp_path):
    with lock.folder_lock(tmp_path, "run"):
        assert lock.is_locked(tmp_path)
        assert lock.is_locked(tmp_path)  # asking twice changes nothing
    assert not lock.is_locked(tmp_path)
    started = time.monotonic()
    with lock.folder_lock(tmp_path, "run"):  # free again at once
        pass
    assert time.monotonic() - started < 1
