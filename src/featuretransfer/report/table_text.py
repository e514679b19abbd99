"""Table 1 and the decomposition in words: the cells of their Markdown and HTML tables, their
notes, the sentence that locates the transition from general to specific features, and the same
texts in a pretrained source's words (SnB, the source gap). tables.py computes the rows. Pure.
"""

from __future__ import annotations

import math

from featuretransfer.report.tables import DEFAULT_RULES, cuts_text, layers_text, markdown_table
from featuretransfer.specs import ReportSpec


def transition_text(rows: list[dict], rules: ReportSpec = DEFAULT_RULES) -> str:
    """The general-to-specific transition that a decomposition implies, in a few sentences.

    The transition is named only between two measured cuts, the last general one and the first
    of an unbroken run of specific cuts up to the top measured cut; where cuts between them were
    not run, or a cut between is inconclusive, the sentence says so.
    """
    known = [r for r in rows if r["features"] != "—"]
    if not known:
        return "No frozen AnB networks with matching base nets: no cut is general or specific."
    sentences = []
    if not all(r["measured"] for r in known):
        sentences.append(
            "Some cuts rest on a single split and seed: there the interval comes from one net's "
            "seed noise and the test set's sampling error, not from replicates; run more splits."
        )
    general = [r["n"] for r in known if r["features"] == "general"]
    specific = [r["n"] for r in known if r["features"] == "specific"]
    if general:
        sentences.append(
            f"At {layers_text(general)} AnB is as good as baseB within +- {rules.margin:g} point "
            "(two one-sided tests, observation 1's test): those features are general."
        )
    if specific:
        sentences.append(
            f"At {layers_text(specific)} AnB lies more than {rules.margin:g} point below baseB "
            "and below BnB: those features are specific to their half."
        )
    for cause, words in (
        ("co-adaptation", "Lost co-adaptation (baseB − BnB)"),
        ("specificity", "Specificity of the features (BnB − AnB)"),
    ):
        if ns := [r["n"] for r in known if r["dominant"] == cause]:
            sentences.append(f"{words} is the larger drop beyond the margin at {layers_text(ns)}.")
    # the unbroken run of specific cuts that ends at the top measured cut
    tail = 0
    while tail < len(known) and known[-1 - tail]["n"] in specific:
        tail += 1
    if tail == 0:
        sentences.append(
            "The top measured cut is not shown specific, so these records show no "
            "general-to-specific transition."
        )
    elif tail == len(known):
        sentences.append("The features are specific at every measured cut, even the lowest.")
    else:
        first, before = known[-tail]["n"], known[-tail - 1]["n"]
        if before not in general:
            sentences.append(
                f"Specific from cut {first} up; at cut {before} neither general nor specific "
                "(inconclusive), so the transition is not located more closely."
            )
        elif first == before + 1:
            sentences.append(
                f"The features turn from general to specific between layers {before} and {first}."
            )
        else:
            sentences.append(
                f"The features turn from general to specific between the measured cuts {before} "
                f"and {first} (cuts {cuts_text(list(range(before + 1, first)))} were not run)."
            )
    return " ".join(sentences)


def points(value: float) -> str:
    """Percentage points as text: '+1.60'; '—' for nan."""
    return f"{value:+.2f}" if math.isfinite(value) else "—"


def interval(mean: float, low: float, high: float, n_units: int) -> str:
    """'+1.60 [+0.80, +2.40] (4)': mean [interval] (independent units); * marks a single unit,
    whose interval comes from the noise model, not from replicates."""
    if not math.isfinite(mean):
        return "—"
    mark = "*" if n_units == 1 else ""
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]{mark} ({n_units})"


TABLE1_HEADER = [
    *("layers aggregated", "cuts in the records", "boost over baseB, pooled"),
    *("boost over BnB+, pooled", "AnB+ nets", "boost over baseB, by split"),
    "boost over BnB+, by split",
]
DECOMPOSITION_HEADER = [
    "n",
    "transfer drop (baseB − AnB)",
    "features",
    "co-adaptation drop (baseB − BnB)",
    "specificity drop (BnB − AnB)",
    "dominates",
]
TABLE1_NOTE = (
    "Top-1 in percentage points, random splits only. Pooled: the paper's rule, as the original "
    "study computed Table 1: the mean of all AnB+ nets at the cuts in the range minus the mean "
    "of all base nets of the targets trained towards (over baseB), or of all fine-tuned "
    "selffers in the range, AnA+ counted as "
    "BnB+ (over BnB+); each net counts once; no interval, as the nets share base nets. By group: "
    "per base group (split, seed, target) the mean of its AnB+ nets in the range minus its own "
    "base net (or its own BnB+ at the same cuts), averaged within each split, then mean [90% "
    "interval] (splits) over splits (over seeds where the study has one split); * marks a "
    "single split and seed, whose interval comes from one net's seed noise and the test set's "
    "sampling error, not from replicates. A pooled value is flagged 'confounded' where pooling "
    "mixes cuts with groups (groups that ran different cuts, or AnB+ nets without a base net): "
    "there the by-split value is the one to read."
)
DECOMPOSITION_NOTE = (
    "Points, per base group, averaged within each split, then mean [90% interval] (splits) over "
    "splits, random splits. A cut's features are general where AnB − baseB lies within the "
    "margin (observation 1's test), specific where AnB lies more than the margin below baseB "
    "and below BnB. A cause dominates only where its drop is above zero; of two, the larger; * "
    "marks a single split and seed (interval from the noise model, not replicates)."
)


def table1_cells(rows: list[dict]) -> list[list]:
    return [
        [
            r["layers"],
            r["cuts"],
            points(r["pooled_vs_base"]) + (f" ({r['pooled_note']})" if r["pooled_note"] else ""),
            points(r["pooled_vs_selffer"]),
            r["n_networks"],
            interval(
                r["grouped_vs_base"],
                r["grouped_vs_base_low"],
                r["grouped_vs_base_high"],
                r["n_groups_vs_base"],
            ),
            interval(
                r["grouped_vs_selffer"],
                r["grouped_vs_selffer_low"],
                r["grouped_vs_selffer_high"],
                r["n_groups_vs_selffer"],
            ),
        ]
        for r in rows
    ]


def decomposition_cells(rows: list[dict]) -> list[list]:
    return [
        [
            r["n"],
            interval(
                r["transfer_drop"],
                r["transfer_low"],
                r["transfer_high"],
                r["n_groups_transfer"],
            ),
            r["features"],
            interval(
                r["coadaptation_drop"],
                r["coadaptation_low"],
                r["coadaptation_high"],
                r["n_groups_selffer"],
            ),
            interval(
                r["specificity_drop"],
                r["specificity_low"],
                r["specificity_high"],
                r["n_groups_transfer"],
            ),
            r["dominant"],
        ]
        for r in rows
    ]


def table1_markdown(rows: list[dict]) -> str:
    lines = ["# Table 1: performance boost of AnB+ over controls", ""]
    lines += markdown_table(TABLE1_HEADER, table1_cells(rows), "llrrrrr")
    return "\n".join(lines + ["", TABLE1_NOTE, ""])


# A pretrained source's study reads the same tables in its own words: SnB where the paper has
# AnB, the target split where it has random A/B splits, the source gap where it has specificity.
SOURCE_WORDS = (
    (", AnA+ counted as BnB+", ""),
    ("AnB", "SnB"),
    ("random A/B splits", "a pretrained source and the target's own nets"),
    ("random splits only", "the target split"),
    ("random splits", "the target split"),
    ("specificity drop", "source gap"),
    ("specificity", "source gap"),
    ("Specificity of the features", "The source gap"),
    ("those features are general", "the source's units serve as well as the target's own"),
    ("those features are specific to their half", "the source's units serve worse"),
    ("general-to-specific transition", "point where the source stops serving"),
)
SOURCE_FEATURES = {"general": "as good as its own", "specific": "worse than its own"}


def for_source(text: str) -> str:
    """The report's own words for a pretrained-source study (SOURCE_WORDS)."""
    for paper, source in SOURCE_WORDS:
        text = text.replace(paper, source)
    return text


def source_rows(rows: list[dict]) -> list[dict]:
    """Decomposition rows with a source study's labels and column names."""
    renamed = []
    for row in rows:
        row = {k.replace("specificity", "source_gap"): v for k, v in row.items()}
        row["features"] = SOURCE_FEATURES.get(row["features"], row["features"])
        row["dominant"] = for_source(row["dominant"])
        renamed.append(row)
    return renamed
