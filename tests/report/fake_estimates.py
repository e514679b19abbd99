"""A hand-made DIR/estimates/ in the format `featuretransfer estimate` writes
(analysis/estimate.py), for the report's tests: base groups of the given splits and seeds
(target B and A), cuts 1-7, LogME and the linear probe defined, H-score and k-NN undefined
(their scores do not vary over the cuts), the depth prior, a measured ceiling for AnB and none
for AnB+, transition cuts, and CKA maps of every kind with their baselines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
CUTS = range(1, 8)
NAN = ""


def write(path: Path, rows: list[dict], bom: bool = False) -> None:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def pooled(estimator, treatment, rho, low, high, versus=(NAN, NAN, NAN), rank=(NAN, NAN)):
    return {
        "estimator": estimator,
        "role": "transfer",
        "treatment": treatment,
        "scope": "pooled",
        "unit": "split",
        "n_units": 2,
        "n_groups": 4 if rho != NAN else 0,
        "n_points": 28,
        "spearman": rho,
        "spearman_low": low,
        "spearman_high": high,
        "kendall": rho,
        "kendall_low": low,
        "kendall_high": high,
        "kendall_p": NAN,
        "versus_depth": versus[0],
        "versus_depth_low": versus[1],
        "versus_depth_high": versus[2],
        "rank_best": rank[0],
        "rank_worst": rank[1],
        "note": "" if rho != NAN else "undefined: its score does not vary",
    }


def write_estimates(
    folder: Path,
    splits=("s0", "s1"),
    seeds=(0,),
    measured_jobs: list[str] = (),
    fit_images: int = 80,
    bom: bool = False,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    groups = [(s, d, a, b) for s in splits for d in seeds for a, b in ("AB", "BA")]
    scores = []
    for i, (s, d, a, b) in enumerate(groups):
        for n in CUTS:
            scores.append(
                {"group": f"{s}:{a}->{b}#{d}", "role": "transfer", "split": s, "seed": d}
                | {"source": a, "target": b, "base_job": f"base{a}{s}{d}", "n": n}
                | {"layer": LAYERS[n - 1], "n_features": 432, "note": ""}
                | {"logme": 1 - 0.1 * n + 0.01 * i, "hscore": 1.0}
                | {"linear_probe": 0.9 - 0.05 * n + 0.02 * (n % 2), "knn": 0.5}
                | {"measured_top1": 0.62 - 0.03 * n + 0.004 * i}
                | {"measured_top1_plus": 0.63 + 0.01 * n - 0.002 * i}
            )
    write(folder / "scores.csv", scores, bom)
    agreement = []
    for t in ("AnB", "AnB+"):
        agreement += [
            pooled("logme", t, 0.93, 0.81, 1.0, (0.05, -0.02, 0.12), (1, 2)),
            pooled("hscore", t, NAN, NAN, NAN),
            pooled("linear_probe", t, 0.81, 0.62, 1.0, (-0.07, -0.2, 0.06), (1, 2)),
            pooled("knn", t, NAN, NAN, NAN),
            pooled("depth_prior", t, 0.88, 0.8, 0.96),
        ]
        ceiling = pooled("seed_to_seed", t, 0.7, 0.52, 0.88) if t == "AnB" else None
        ceiling = ceiling or pooled("seed_to_seed", t, NAN, NAN, NAN)
        ceiling["note"] = "" if t == "AnB" else "not measured: one seed per group"
        agreement.append(ceiling)
        for s, d, a, b in groups:
            agreement.append(
                pooled("logme", t, 0.9, NAN, NAN)
                | {"scope": f"{s}:{a}->{b}#{d}", "n_units": 1, "n_groups": 1}
            )
    write(folder / "agreement.csv", agreement)
    write(
        folder / "comparisons.csv",
        [
            {"role": "transfer", "treatment": t, "estimator": "logme", "versus": "depth_prior"}
            | {"unit": "split", "n_units": 2, "difference": 0.05, "low": -0.02, "high": 0.12}
            for t in ("AnB", "AnB+")
        ],
    )
    transitions = [
        {"group": f"{s}:{a}->{b}#{d}", "split": s, "seed": d, "source": a, "target": b}
        | {"treatment": "AnB", "base_top1": 0.63, "measured": 2 if i else NAN}
        | {"note": "" if i else "not pinned down: cut 3 not measured"}
        | {"logme": 2, "hscore": 7, "linear_probe": 1 + i % 2, "knn": 0, "tolerance": 0.0125}
        for i, (s, d, a, b) in enumerate(groups)
    ]
    write(folder / "transitions.csv", transitions)
    hits = [
        {"predictor": e, "treatment": "AnB", "exact": x, "within_one": y, "n_groups": 3}
        | {"note": ""}
        for e, x, y in (("logme", 3, 3), ("hscore", 0, 0), ("linear_probe", 1, 3), ("knn", 0, 0))
    ] + [
        {"predictor": "constant", "treatment": "AnB", "exact": 3, "within_one": 3}
        | {
            "n_groups": 3,
            "note": "the best constant guess in hindsight: cut 2 (exact), cut 1 (within one)",
        }
    ]
    write(folder / "transition_hits.csv", hits)
    similarity = []
    for s, d, a, b in groups:
        g = f"{s}:{a}->{b}#{d}"
        similarity += [
            {"kind": "A-B", "group": g, "net_a": f"{s}:baseA#{d}", "net_b": f"{s}:baseB#{d}"}
            | {"n": 0, "layer_a": x, "layer_b": y, "note": ""}
            | {"cka": 0.95 - 0.05 * abs(i - j) - 0.03 * max(i, j)}
            for i, x in enumerate(LAYERS)
            for j, y in enumerate(LAYERS)
        ]
        similarity += [
            {"kind": "untrained", "group": g, "net_a": "untrained#0", "net_b": "untrained#1"}
            | {"n": 0, "layer_a": x, "layer_b": x, "cka": 0.98 - 0.04 * i, "note": ""}
            for i, x in enumerate(LAYERS)
        ]
        similarity += [
            {"kind": "fine-tuned", "group": g, "net_a": f"{s}:{a}{n}{b}+#{d}"}
            | {"net_b": f"{s}:base{a}#{d}", "n": n, "layer_a": x, "layer_b": x, "note": ""}
            | {"cka": 1.0 if i < n else 0.8}
            for n in CUTS
            for i, x in enumerate(LAYERS)
        ]
    write(folder / "similarity.csv", similarity)
    summary = {
        "note": "ESTIMATES: scores of frozen features, not measured transfer accuracy",
        "settings": {"n_fit": 2000, "n_held": 1000, "n_cka": 500, "max_dim": 512, "margin": 1.0},
        "samples": {
            f"{s}:{h}": {"fit_images": fit_images, "held_images": 20, "cka_images": 40}
            for s in splits
            for h in "AB"
        },
        "seconds": {"total": 12.5},
        "measured_jobs": list(measured_jobs),
        "baselines": [
            f"{s}:A->B#{d}: seeds baseline not measured: one seed per split"
            for s in splits
            for d in seeds
        ],
        "skipped": [],
    }
    (folder / "summary.json").write_text(json.dumps(summary))
