"""Kill `featuretransfer run` with SIGKILL at random moments, restart it, and compare.

    python benchmarks/crash_resume.py [--preset fashion-mnist-smoke] [--kills 5] [--seed 0]

Runs the study once undisturbed, then again killing it `--kills` times at random moments (each
restart goes on from the output folder), lets the last run finish, and checks that every net's
top-1 equals the undisturbed run's and that no record is lost, doubled or corrupt. Exit code 0
when everything matches.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(command: list[str], out: Path, kill_after: float | None) -> bool:
    """Run once; True if it finished, False if it was killed."""
    process = subprocess.Popen([*command, "--out", str(out)], stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=kill_after)
        return True
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        return False


def scores(out: Path) -> dict[str, float]:
    with open(out / "results.csv") as f:
        return {row["job_id"]: float(row["top1"]) for row in csv.DictReader(f)}


def check_records(out: Path) -> list[str]:
    """Problems in the job folders: missing marker, doubled or unreadable epoch lines."""
    problems = []
    for folder in sorted((out / "jobs").iterdir()):
        if not (folder / "done").exists():
            problems.append(f"{folder.name}: not done")
            continue
        epochs = [json.loads(line)["epoch"] for line in (folder / "results.jsonl").open()]
        record = json.loads((folder / "record.json").read_text())
        if epochs != list(range(1, record["epochs"] + 1)):
            problems.append(f"{folder.name}: epoch lines {epochs}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="fashion-mnist-smoke")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    command = [sys.executable, "-m", "featuretransfer", "run", "--preset", args.preset, "--quiet"]
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        calm, killed = Path(tmp) / "calm", Path(tmp) / "killed"
        started = time.perf_counter()
        run(command, calm, None)
        calm_seconds = time.perf_counter() - started
        kills = 0
        for attempt in range(args.kills * 4):  # bounded; a run that finishes early costs a try
            if kills == args.kills:
                break
            finished = run(command, killed, rng.uniform(0.1, 0.9) * calm_seconds)
            kills += not finished
            print(f"try {attempt + 1}: {'finished' if finished else 'killed'}", flush=True)
        run(command, killed, None)
        expected, got = scores(calm), scores(killed)
        problems = check_records(killed)
        same = expected == got
        print(
            f"undisturbed run {calm_seconds:.1f} s; {kills} kills; {len(got)}/{len(expected)} "
            f"nets; scores identical: {same}; record problems: {len(problems)}"
        )
        for problem in problems:
            print("  " + problem)
        return 0 if same and not problems and kills == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())
