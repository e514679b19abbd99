#!/usr/bin/env bash
# Set up featuretransfer on a fresh Debian machine: Fashion-MNIST from Debian's package, and a
# virtual environment .venv with the package (editable); `--test` adds the test tools (pytest,
# Pillow, Ray for the cluster tests). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the data set, unshare/ip for the tests' loopback-only Ray cluster, and
# (--test) Chromium for the report's browser test.
missing=""
[ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
command -v ip >/dev/null || missing="$missing iproute2"
command -v unshare >/dev/null || missing="$missing util-linux"
# the tests render the report's index.html in a real browser (headless Chromium)
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null; then missing="$missing chromium"; fi
# Another apt-get (unattended-upgrades, on a fresh machine) may hold the package locks: wait
# for it, up to LOCK_WAIT seconds. apt's own DPkg::Lock::Timeout waits only for the dpkg lock
# (apt 2.6, Debian 12: not for the lists lock that `apt-get update` takes) and says nothing when
# quiet, so apt_get retries a command that failed on a lock (it changed nothing), and says so.
LOCK_WAIT=600  # seconds
LOCK_POLL=5  # seconds between tries
apt_get() {
  local deadline=$((SECONDS + LOCK_WAIT)) told="" errors
  # stderr kept (a lock's message names its holder), stdout dropped
  until errors=$($sudo env LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get "$@" 2>&1 >/dev/null)
  do
    if ! grep -q "Could not get lock" <<<"$errors"; then
      printf '%s\n' "$errors" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "setup: gave up after ${LOCK_WAIT}s: $(grep -m1 "Could not get lock" <<<"$errors")" >&2
      return 1
    fi
    if [ -z "$told" ]; then
      echo "setup: another apt-get holds the package lock; waiting up to ${LOCK_WAIT}s" >&2
      told=1
    fi
    sleep "$LOCK_POLL"
  done
  [ -z "$errors" ] || printf '%s\n' "$errors" >&2  # warnings
}
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  apt_get update -qq
  apt_get install -y -qq $missing
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first, pinned: a bare range would let pip pick a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0"
extras=""; [ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/pip install -q -e ".$extras"
