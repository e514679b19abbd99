"""Smoke tests of the benchmarks: caffenet_throughput.py --quick on the CPU prints its numbers;
estimate_speed.py on the smoke preset prints its ratio line (slow: real data)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


ESTIMATE = SCRIPT.parent / "estimate_speed.py"


@pytest.mark.slow  # trains the smoke preset's two base nets on the real Fashion-MNIST: ~1 min
def test_estimate_speed_on_the_smoke_preset():
    result = subprocess.run(
        [
            sys.executable,
            str(ESTIMATE),
            "--preset",
            "fashion-mnist-smoke",
            "--study-seconds",
            "600",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "base nets trained 2" in result.stdout
    assert re.search(
        r"^estimate \d+\.\d s = \d+\.\d% of the study's 600 s \(budget 5%\)$",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
