#!/usr/bin/env bash
# The imagenet-caffenet recipe end to end on a small made-up image folder, through the CLI:
# CaffeNet (width 0.25) on 256 px images, random 227 crops and mirrors, bias lr x2 without decay,
# a 1000-way fc8, bf16 autocast, stacked nets; then the same command again, which trains nothing.
#   bash benchmarks/gpu_check_caffenet.sh [cuda|cpu]
set -eu
device="${1:-cuda}"
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD/src:$(ls "$PWD"/runs/gpu-deps/*.whl 2>/dev/null | tr '\n' ':')"
work="${OUT:-/tmp}/caffenet-check"
mkdir -p "$work"
python - "$work/images" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for part, n in (("train", 24), ("val", 6)):
    for c in range(4):
        folder = Path(sys.argv[1]) / part / f"n{c:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (256, 300, 3), dtype=np.uint8)
            pixels[:, :, c % 3] //= 4 if c < 3 else 1  # a learnable colour cast per class
            Image.fromarray(pixels).save(folder / f"{i}.JPEG", quality=90)
PY
sed -e 's/^epochs = 180/epochs = 3/' -e 's/^lr_milestones = .*/lr_milestones = [2]/' \
    -e 's/^batch_size = 256/batch_size = 16/' -e 's/^n_val = 10000.*/n_val = 8/' \
    -e 's/^width = 1.0/width = 0.25/' -e 's/^best_k = 10/best_k = 2/' \
    -e 's/^cuts = .*/cuts = [2, 6]/' -e 's/^targets = .*/targets = ["B"]/' \
    -e 's/^name = "imagenet-caffenet"/name = "caffenet-check"/' \
    src/featuretransfer/presets/imagenet-caffenet.toml \
    | sed -n '/^\[\[splits\]\]/q;p' > "$work/study.toml"
cat >> "$work/study.toml" <<'TOML'
[[splits]]
name = "halves"
A = [0, 1]
B = [2, 3]
TOML
for run in first again; do
    python -m featuretransfer run "$work/study.toml" --data "$work/images" --device "$device" \
        --out "$work/out" --quiet
done
cut -d, -f2,7-9,12-15 "$work/out/results.csv"
