"""A pretrained source's study answers its own question (how deep the source's frozen units serve
the target as well as its own base net, what fine-tuning adds, what freezing saves) in its own
words: SnB and the source, never the paper's A/B observations, "random splits" or "specificity"."""

from __future__ import annotations

import csv

from featuretransfer.report.findings import findings
from featuretransfer.report.writer import write_report_from_csv

COLUMNS = ["split", "split_kind", "source", "target", "treatment", "n_copied", "fine_tune", "seed"]
COLUMNS += ["top1", "n_layers", "seconds", "n_parameters", "n_trainable", "n_test"]


def source_table(path, snb: dict[int, float], plus: dict[int, float], seeds=(0, 1, 2, 3)):
    """baseB at 0.80 (+ a seed wobble), SnB and SnB+ at baseB + the given points per cut."""
    rows = []
    for seed in seeds:
        base = 0.80 + 0.002 * seed
        rows.append(["t", "source", "B", "B", "base", 0, "false", seed, base, 5, 10.0, 1000, 1000])
        for n, diff in snb.items():
            wobble = 0.001 * ((seed * 7 + n) % 3 - 1)
            top1 = base + diff / 100 + wobble
            rows.append(["t", "source", "S", "B", "transfer", n, "false", seed, top1, 5])
            rows[-1] += [2.0 * (5 - n) / 5, 1000, 1000 - 200 * n, 1000]
            top1 = base + plus[n] / 100 + wobble
            rows.append(["t", "source", "S", "B", "transfer", n, "true", seed, top1, 5])
            rows[-1] += [10.0, 1000, 1000, 1000]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def test_a_source_study_answers_its_own_question(tmp_path):
    # the source serves as well as the target's own net up to unit 2, then worse
    table = source_table(
        tmp_path / "r.csv", {1: 0.3, 2: -0.2, 3: -4.0, 4: -9.0}, {1: 0.2, 2: 0.1, 3: 0.0, 4: -0.5}
    )
    folder = write_report_from_csv(table, tmp_path / "out")
    found = (folder / "findings.md").read_text()
    assert "pretrained source" in found and "observation" not in found.lower()
    assert "AnB" not in found and "A/B" not in found
    assert "*up to n = 2*" in found and "units 1-2 are as good" in found
    assert "fine-tuning adds" in found
    assert "n = 3: trains 40% of the parameters and took 8% of baseB's time" in found
    page = (folder / "index.html").read_text()
    for paper_word in ("AnB", "A/B", "specificity", "random splits"):
        assert paper_word not in page, paper_word
    assert "SnB" in page and "source gap" in page
    header = (folder / "decomposition.csv").read_text().splitlines()[0]
    assert "source_gap_drop" in header and "specificity" not in header


def test_no_unit_serves_when_the_first_already_loses(tmp_path):
    table = source_table(tmp_path / "r.csv", {1: -5.0, 2: -6.0}, {1: 0.0, 2: 0.0})
    (first, _, _) = findings(
        __import__("featuretransfer.report.results", fromlist=["x"]).load_results(table)
    )
    assert (
        first["verdict"] == "none" and "Worse by more than the margin from n = 1" in first["text"]
    )
