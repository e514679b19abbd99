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
if [ -n "$missing" ] && command -v apt-get >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first, pinned: a bare range would let pip pick a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q "torch==2.13.0"
extras=""; [ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/pip install -q -e ".$extras"
