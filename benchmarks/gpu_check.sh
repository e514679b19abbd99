#!/usr/bin/env bash
# The GPU checks of issues 4 and 5, as run on a lent GPU machine that has torch but not this
# package installed and no network: the package comes from src/, tqdm from a carried wheel, the
# Fashion-MNIST files from a carried folder (runs/gpu-data, runs/gpu-deps: see docs/performance.md).
#   bash benchmarks/gpu_check.sh   # prints the default study with --fuse 1 and 16, then a CLI run
set -u
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD/src:$(ls "$PWD"/runs/gpu-deps/*.whl 2>/dev/null | tr '\n' ':')"
export FEATURETRANSFER_DATA="$PWD/runs/gpu-data/fashion-mnist"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import sys, torch, numpy; print(sys.version.split()[0], torch.__version__, numpy.__version__)"
echo "== default study on the GPU, nets one by one and 16 per stacked pass"
timeout 330 python benchmarks/study_speed.py --device cuda --fuse 1,16 --no-plain
echo "== the CLI on the GPU (smoke preset, --device cuda, --fuse auto)"
if python -c "import matplotlib, scipy" 2>/dev/null; then
    timeout 90 python -m featuretransfer run --preset fashion-mnist-smoke --device cuda \
        --out "${OUT:-/tmp}/smoke" --quiet
    cut -d, -f1-12 "${OUT:-/tmp}/smoke/results.csv"
else
    echo "matplotlib or scipy missing here: CLI run skipped"
fi
