"""The estimate driver end to end on a tiny finished study (2 seeds, 3 cuts, BnB, AnB, AnB+; its
random controls planned but not run): what DIR/estimates/ holds, that it matches the records and
the CKA's constructions, that a rerun gives the same files, and that a folder with only base nets
gives estimates without agreement."""

import csv
import dataclasses
import json
import math

import pytest

from featuretransfer.analysis.estimate import EstimateSpec, base_groups, estimate_study
from featuretransfer.analysis.estimators import ESTIMATORS
from featuretransfer.data.registry import with_fingerprint
from featuretransfer.run.executors import InlineExecutor
from featuretransfer.run.runner import run_jobs
from featuretransfer.specs import DataSpec, NetSpec, TrainSpec
from featuretransfer.study import store
from featuretransfer.study.plan import plan_study
from featuretransfer.study.splits import random_split
from featuretransfer.study.studyfile import StudySpec

# more images than features (as at the defaults, 2000 against 512): LogME converges in a few steps
SPEC = EstimateSpec(n_fit=80, n_held=20, n_cka=40, max_dim=48, n_bootstrap=200, score_selffers=True)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def study(fake_data) -> StudySpec:
    return StudySpec(
        name="tiny-estimate",
        description="tests",
        data=with_fingerprint(DataSpec(n_val=40, path=str(fake_data))),
        net=NetSpec(width=0.1),
        train=TrainSpec(
            epochs=1, batch_size=32, lr=0.02, lr_milestones=(), best_k=1, precision="fp32"
        ),
        splits=(random_split(10, 0),),
        treatments=("BnB", "AnB", "AnB+", "random"),
        cuts=(2, 4, 6),
        targets=("B",),
        seeds=(0, 1),
    )


@pytest.fixture(scope="module")
def finished(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    plan = plan_study(study)
    trained = [j for j in plan if j.treatment != "random"]  # planned, never a group's: not run
    summary = run_jobs(trained, out, InlineExecutor(), show_progress=False)
    assert not summary.failed
    return plan, out, estimate_study(plan, out, SPEC)


def test_groups_are_the_source_nets_of_transfer_and_selffer(study):
    groups = base_groups(plan_study(study))
    assert [(g.name, g.role) for g in groups] == [
        ("s0:A->B#0", "transfer"),
        ("s0:B->B#0", "selffer"),
        ("s0:A->B#1", "transfer"),
        ("s0:B->B#1", "selffer"),
    ]
    for g in groups:
        assert g.base.treatment == "base" and g.base.target == g.source
        assert len(g.jobs) == (6 if g.role == "transfer" else 3)  # AnB, AnB+ / BnB
        assert all(j.parent() == g.base for j in g.jobs)  # the random nets are no group's


def test_scores_hold_every_cut_and_the_measured_top1_of_the_records(finished):
    plan, out, folder = finished
    scores = rows(folder / "scores.csv")
    assert len(scores) == 4 * 7  # 4 groups, cuts 1..7 (estimates are cheap: every cut)
    records = {
        (r["seed"], r["source"], r["n"], r["fine_tuned"]): r
        for r in store.load_records(out)
        if r["treatment"] in ("transfer", "selffer")
    }
    for row in scores:
        assert int(row["n_features"]) <= 48
        for name in ESTIMATORS:
            assert math.isfinite(float(row[name]))
        for column, fine in (("measured_top1", False), ("measured_top1_plus", True)):
            record = records.get((int(row["seed"]), row["source"], int(row["n"]), fine))
            if record is None:
                assert row[column] == ""  # a cut or treatment the study did not train
            else:
                assert float(row[column]) == pytest.approx(record["top1"], abs=1e-6)
    assert {r["n"] for r in scores if r["measured_top1"]} == {"2", "4", "6"}
    assert not any(r["measured_top1_plus"] for r in scores if r["role"] == "selffer")


def test_cka_maps_of_the_finished_study(finished):
    _, _, folder = finished
    sim = rows(folder / "similarity.csv")
    kinds = {}
    for r in sim:
        kinds.setdefault(r["kind"], []).append(r)
    assert len(kinds["A-B"]) == 2 * 8 * 8  # baseA x baseB, every pair of layers, per seed
    assert len(kinds["fine-tuned"]) == 2 * 3 * 8  # seeds x cuts x layers of AnB+
    assert len(kinds["selffer"]) == 2 * 3 * 8  # BnB against baseB
    layers = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    for r in kinds["selffer"]:  # frozen copies: the same features up to the cut
        if layers.index(r["layer_a"]) < int(r["n"]):
            assert float(r["cka"]) == pytest.approx(1.0, abs=1e-9)
    for r in kinds["fine-tuned"] + kinds["A-B"]:
        assert -0.2 < float(r["cka"]) <= 1.0 + 1e-9


def test_agreement_per_treatment_pooled_and_per_group(finished):
    _, _, folder = finished
    table = rows(folder / "agreement.csv")
    assert {r["treatment"] for r in table} == {"AnB", "AnB+", "BnB"}  # no BnB+ in this study
    pooled = [r for r in table if r["scope"] == "pooled"]
    assert len(pooled) == 3 * len(ESTIMATORS)
    assert all(r["n_groups"] == "2" and r["n_points"] == "6" for r in pooled)
    assert len(table) == 3 * len(pooled)  # pooled and each of the 2 groups
    for r in pooled:
        if r["spearman"] and r["spearman_low"]:
            assert float(r["spearman_low"]) <= float(r["spearman"]) <= float(r["spearman_high"])


def test_summary_and_a_rerun_gives_the_same_files(finished):
    plan, out, folder = finished
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["note"].startswith("ESTIMATES")
    assert len(summary["measured_jobs"]) == 2 * 9
    assert summary["samples"]["s0:B"]["fit_images"] == 80
    assert summary["seconds"]["total"] > 0
    before = {
        name: (folder / name).read_text()
        for name in ("scores.csv", "similarity.csv", "agreement.csv")
    }
    estimate_study(plan, out, SPEC)
    assert {name: (folder / name).read_text() for name in before} == before


def test_only_base_nets_give_estimates_and_no_agreement(study, tmp_path):
    plan = plan_study(dataclasses.replace(study, seeds=(0,)))
    run_jobs(
        [j for j in plan if j.treatment == "base"], tmp_path, InlineExecutor(), show_progress=False
    )
    folder = estimate_study(plan, tmp_path, SPEC)
    scores = rows(folder / "scores.csv")
    assert len(scores) == 2 * 7 and not any(r["measured_top1"] for r in scores)
    assert rows(folder / "agreement.csv") == []
    assert {r["kind"] for r in rows(folder / "similarity.csv")} == {"A-B"}


def test_a_net_whose_weights_are_lost_is_left_out_and_named(finished, tmp_path):
    """The store calls it damaged: neither its top-1 nor its maps count, and summary.json and
    the report say so."""
    plan, out, folder = finished
    lost = next(j for j in plan if j.treatment == "transfer" and j.fine_tune)
    weights = store.weights_file(store.job_dir(out, lost.id))
    weights.rename(tmp_path / weights.name)
    try:
        estimate_study(plan, out, SPEC)
        summary = json.loads((folder / "summary.json").read_text())
        assert any(lost.display_name in reason for reason in summary["skipped"])
        nets = {r["net_a"] for r in rows(folder / "similarity.csv")}
        assert lost.display_name not in nets and len(nets) > 2
        assert len(summary["measured_jobs"]) == 2 * 9 - 1
    finally:
        (tmp_path / weights.name).rename(weights)


def test_more_cka_images_than_the_sample_has_takes_the_fit_images_only(finished):
    """A base net's features hold the fit and the held images, a treatment net's only the CKA
    images: both must give Gram matrices of the same fit images."""
    plan, out, folder = finished
    try:
        estimate_study(plan, out, dataclasses.replace(SPEC, n_cka=1000))
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["samples"]["s0:B"]["cka_images"] == 80
        assert {r["kind"] for r in rows(folder / "similarity.csv")} == {
            "A-B",
            "fine-tuned",
            "selffer",
        }
    finally:
        estimate_study(plan, out, SPEC)  # the files the other tests read


def test_by_default_only_transfer_groups_are_scored(finished, tmp_path):
    plan, out, _ = finished
    default = dataclasses.replace(SPEC, score_selffers=False)
    folder = estimate_study(plan, out, default)
    roles = {r["role"] for r in rows(folder / "scores.csv")}
    assert roles == {"transfer"}  # the paper's question, at half the estimators' cost
    estimate_study(plan, out, SPEC)  # leave the module's folder as the other tests expect
