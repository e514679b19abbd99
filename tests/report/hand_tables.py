"""Results tables made by hand for the report's tests: one row as the store writes it
(make_record), a table on disk (write_results), its parsed records (records_of), and intervals
written out independently of the report's own (ci95, interval90)."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from scipy import stats

from featuretransfer.report.results import load_results

DATA = Path(__file__).parent
COLUMNS = (
    *("job_id", "study", "split", "split_kind", "source", "target", "treatment", "n_copied"),
    *("fine_tune", "seed", "n_layers", "status", "top1", "weights"),
    *("n_train_per_class", "train_top1"),
)
REPORT_FILES = (
    *("figure2.png", "figure2.svg", "figure3.png", "figure3.svg", "filters.png"),
    *("table1.md", "table1.csv", "decomposition.csv", "findings.md", "index.html"),
)
VOLUME_FILES = ("volume.png", "volume.svg", "volume.csv", "volume.md")


def make_record(treatment="base", n=0, target="B", top1=0.6, fine_tuned=False, **fields) -> dict:
    """One results.csv row as the store writes it; `fields` override the defaults."""
    other = "A" if target == "B" else "B"
    source = {"transfer": other, "random": ""}.get(treatment, target)
    record = {
        "job_id": f"job{treatment}{n}{target}",
        "study": "hand-made",
        "split": "s0",
        "split_kind": "random",
        "source": source,
        "target": target,
        "treatment": treatment,
        "n_copied": n,
        "fine_tune": "true" if fine_tuned else "false",
        "seed": 0,
        "n_layers": 8,
        "status": "done",
        "top1": top1,
        "weights": "",
        "n_train_per_class": 0,
        "train_top1": "",
    }
    return record | fields


def write_results(path: Path, records: list[dict], columns=COLUMNS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    return path


def records_of(tmp_path: Path, rows: list[dict]) -> list[dict]:
    return load_results(write_results(tmp_path / "results.csv", rows))


def ci95(values: list[float]) -> float:
    """Half-width of the 95% t-interval, written out independently of tables.mean_ci."""
    return stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5


def interval90(values: list[float]) -> tuple[float, float]:
    """The 90% t-interval of the mean (each end a one-sided test at 5%), written out here."""
    mean = statistics.fmean(values)
    half = stats.t.ppf(0.95, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return mean - half, mean + half


def anb_plus(n, top1, **fields):
    return make_record("transfer", n, top1=top1, fine_tuned=True, **fields)


def bnb_plus(n, top1, **fields):
    return make_record("selffer", n, top1=top1, fine_tuned=True, **fields)
