"""Smoke test of benchmarks/caffenet_throughput.py: the CPU --quick run prints its numbers."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "caffenet_throughput.py"


def test_caffenet_throughput_quick():
    # a subprocess, so the script's global torch settings (seed, TF32, cudnn) stay out of this one
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--device", "cpu"],
        check=False,  # the assert below shows stderr
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rates = [float(r) for r in re.findall(r"([\d.]+) images/s", result.stdout)]
    assert len(rates) == 3 and all(r > 0 for r in rates), result.stdout
    assert "60,965,224 params" in result.stdout
    assert re.search(
        r"^caffenet best: \d+ img/s \(\S+\), \d+% of \w+ matmul rate$", result.stdout, re.MULTILINE
    )
