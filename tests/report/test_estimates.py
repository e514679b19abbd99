"""The report's estimates view, from hand-made DIR/estimates/ files: the ranking, the verdict's
wording, the stale-agreement note, the figures written, and the paragraph when there are none."""

from __future__ import annotations

import csv
import json
import math

import pytest

from featuretransfer.report.estimates import estimates_section, ranking, read_csv, verdict

ESTIMATORS = ("logme", "hscore", "linear_probe", "knn")
LAYERS = ("conv1", "conv2", "conv3", "fc4")


def write(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def agreement_row(estimator, treatment, rho, groups=1, low="", high=""):
    role = "selffer" if treatment.startswith("BnB") else "transfer"
    return {
        "estimator": estimator,
        "role": role,
        "treatment": treatment,
        "scope": "pooled",
        "n_groups": groups,
        "n_points": 3 * groups,
        "spearman": rho,
        "spearman_low": low,
        "spearman_high": high,
        "kendall": rho,
        "kendall_low": low,
        "kendall_high": high,
        "kendall_p": 0.3,
    }


@pytest.fixture
def folder(tmp_path):
    """One transfer group, cuts 1-3: AnB falls 10 points, AnB+ stays within 0.4."""
    estimates = tmp_path / "estimates"
    estimates.mkdir()
    scores = []
    for n in (1, 2, 3):
        scores.append(
            {"group": "s0:A->B#0", "role": "transfer", "n": n, "layer": LAYERS[n - 1]}
            | {"logme": 1 - 0.1 * n, "hscore": 1.0, "linear_probe": 0.9, "knn": 0.5 + 0.1 * n}
            | {"measured_top1": 0.95 - 0.05 * n, "measured_top1_plus": 0.95 + 0.002 * (n % 2)}
        )
    write(estimates / "scores.csv", scores)
    write(
        estimates / "agreement.csv",
        [agreement_row("logme", "AnB", 1.0), agreement_row("knn", "AnB", -1.0)]
        + [agreement_row("hscore", "AnB", ""), agreement_row("linear_probe", "AnB", 0.6)]
        + [agreement_row(e, "AnB+", 0.3) for e in ESTIMATORS],
    )
    similarity = [
        {"kind": "A-B", "group": "s0:A->B#0", "net_a": "s0:baseA#0", "net_b": "s0:baseB#0"}
        | {"n": 0, "layer_a": a, "layer_b": b, "cka": 1.0 if a == b else 0.5}
        for a in LAYERS
        for b in LAYERS
    ] + [
        {"kind": "fine-tuned", "group": "s0:A->B#0", "net_a": f"s0:A{n}B+#0"}
        | {"net_b": "s0:baseA#0", "n": n, "layer_a": a, "layer_b": a, "cka": 0.9}
        for n in (1, 2, 3)
        for a in LAYERS
    ]
    write(estimates / "similarity.csv", similarity)
    summary = {"settings": {"n_fit": 2000, "n_held": 1000, "n_cka": 1000, "max_dim": 512}}
    summary |= {"seconds": {"total": 12.5}, "measured_jobs": ["t1", "t2"]}
    (estimates / "summary.json").write_text(json.dumps(summary))
    return estimates


def test_ranking_orders_by_spearman_and_puts_undefined_last(folder):
    table = ranking(read_csv(folder / "agreement.csv"))
    anb = [r["estimator"] for r in table if r["treatment"] == "AnB"]
    assert anb == ["logme", "linear_probe", "knn", "hscore"]
    assert [r["rank"] for r in table if r["treatment"] == "AnB"] == [1, 2, 3, 4]
    assert math.isnan(table[3]["spearman"])


def test_verdict_says_which_estimator_and_how_well(folder):
    scores = read_csv(folder / "scores.csv")
    table = ranking(read_csv(folder / "agreement.csv"))
    text = verdict(table, scores, "AnB")
    assert text.startswith("LogME would have predicted this study's AnB curve well")
    assert "one base group: no interval" in text and "over 3 cuts" in text
    plus = verdict(table, scores, "AnB+")
    assert plus.startswith("No estimator would have predicted this study's AnB+ curve")
    assert "varies by only 0.2 points" in plus  # 0.952 - 0.950: weak evidence, said so
    assert "weak evidence" not in text  # AnB spans 10 points
    rows = [r | {"spearman": 0.6} for r in table if r["treatment"] == "AnB"]
    assert "only roughly" in verdict(rows, scores, "AnB")
    assert "not measured" in verdict(table, scores, "BnB")
    tie = [r | {"spearman": 1.0} if r["estimator"] == "knn" else r for r in table]
    tie = ranking([r | {"scope": "pooled"} for r in tie])
    assert verdict(tie, scores, "AnB").startswith("LogME and k-NN (tied) would each have predicted")


def test_section_writes_figures_and_ranking_and_flags_stale_agreement(folder, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    records = [{"job_id": j, "treatment": "transfer"} for j in ("t1", "t2")]
    page = estimates_section(folder, report, records)
    assert "These are estimates, not measurements." in page and "Stale" not in page
    assert "LogME would have predicted" in page
    for name in ("estimates_curves.png", "estimates_curves.svg", "cka_A-B.png"):
        assert (report / name).is_file()
    assert (report / "cka_fine-tuned.png").is_file() and not (report / "cka_selffer.png").exists()
    assert "| AnB | 1 | LogME | +1.00 [one group]" in (report / "estimates_ranking.md").read_text()
    stale = estimates_section(folder, report, records + [{"job_id": "t3", "treatment": "transfer"}])
    assert "Stale" in stale and "3 measured" in stale


def test_without_estimates_the_section_says_how_to_make_them(tmp_path):
    page = estimates_section(tmp_path / "estimates", tmp_path, [])
    assert "featuretransfer estimate DIR" in page
