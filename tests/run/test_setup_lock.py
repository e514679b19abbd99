"""scripts/setup.sh waits for a package lock that another apt-get holds, says so, and gives up
after LOCK_WAIT seconds; its apt_get runs here against a fake apt-get on PATH (the real one,
with a lock held, was tried by hand: it needs root and touches the system)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SETUP = Path(__file__).parents[2] / "scripts" / "setup.sh"
LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 42 (apt-get)"


def apt_get(tmp_path: Path, fails: int, error: str, wait: int = 600) -> tuple[int, str, int]:
    """Run setup.sh's apt_get with an apt-get that fails `fails` times with `error` first:
    (exit status, stderr, apt-get calls)."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/bash\necho x >> {calls}\n[ "$(wc -l < {calls})" -gt {fails} ] && exit 0\n'
        f'echo "{error}" >&2\nexit 100\n'
    )
    fake.chmod(0o755)
    script = (
        "set -euo pipefail\n"
        f"eval \"$(sed -n '/^LOCK_WAIT=/,/^}}/p' {SETUP})\"\n"
        f'sudo=""; LOCK_WAIT={wait}; LOCK_POLL=0; PATH="{fake.parent}:$PATH"\n'
        "apt_get update -qq\n"
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    n_calls = len(calls.read_text().splitlines()) if calls.exists() else 0
    return result.returncode, result.stderr, n_calls


def test_it_waits_for_the_lock_and_says_so_once(tmp_path):
    rc, err, calls = apt_get(tmp_path, fails=3, error=LOCKED)
    assert (rc, calls) == (0, 4)
    assert err == "setup: another apt-get holds the package lock; waiting up to 600s\n"


def test_the_wait_is_bounded(tmp_path):
    rc, err, calls = apt_get(tmp_path, fails=1000, error=LOCKED, wait=0)
    assert (rc, calls) == (1, 1)
    assert err == f"setup: gave up after 0s: {LOCKED}\n"


def test_other_errors_end_it_at_once(tmp_path):
    rc, err, calls = apt_get(tmp_path, fails=1000, error="E: Unable to locate package nothing")
    assert (rc, calls, err) == (1, 1, "E: Unable to locate package nothing\n")
