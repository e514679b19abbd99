"""Tests of what Figures 2 and 3 hold (report/figures.py) and of their caption (writer.py): an
empty panel never takes its neighbour's tick numbers, every panel's title promises bars only
where bars are drawn and says why there are none, a gap in the cuts is named and never crossed
by a line, and the caption shows only settings the model has."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.container import ErrorbarContainer

from featuretransfer.report import drawing, figures, writer
from featuretransfer.report.results import load_results
from featuretransfer.specs import NetSpec, ReportSpec, TrainSpec
from featuretransfer.studyinfo import StudyInfo

ALL_CUTS = range(1, 8)  # the paper's net: L = 8, cuts 1..7
COLUMNS = ("split", "source", "target", "treatment", "n_copied", "fine_tune", "top1", "seed")
COLUMNS += ("split_kind", "n_layers")


def study_records(tmp_path: Path, splits=("s0",), cuts=ALL_CUTS, random_weights=False) -> list:
    """Base nets and the four treatments towards B on each random split (one base group per
    split), falling with n and a little different per split; optionally the random-weights
    control and no dissimilar split."""
    rows = []
    for i, split in enumerate(splits):
        wobble = 0.004 * i  # the groups differ, so an interval over them has a width
        rows += [
            {
                "split": split,
                "source": h,
                "target": h,
                "treatment": "base",
                "n_copied": 0,
                "top1": 0.62,
            }
            for h in "AB"
        ]
        for n in cuts:
            for treatment, source in (("selffer", "B"), ("transfer", "A")):
                for fine_tuned in ("false", "true"):
                    drop = 0.0 if fine_tuned == "true" else 0.01 * n
                    rows.append(
                        {"split": split, "source": source, "target": "B", "n_copied": n}
                        | {"treatment": treatment, "fine_tune": fine_tuned}
                        | {"top1": round(0.62 - drop + wobble * (1 + n % 3), 4)}
                    )
            if random_weights:
                rows.append(
                    {
                        "split": split,
                        "source": "",
                        "target": "B",
                        "treatment": "random",
                        "n_copied": n,
                    }
                    | {"top1": max(0.1, 0.62 - 0.2 * n)}
                )
    path = tmp_path / "results.csv"
    with path.open("w", newline="") as f:
        table = csv.DictWriter(f, fieldnames=COLUMNS)
        table.writeheader()
        defaults = {"fine_tune": "false", "seed": 0, "split_kind": "random", "n_layers": 8}
        table.writerows(defaults | row for row in rows)
    return load_results(path)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions make, kept open instead of saved: {suptitle: figure}."""
    kept = {}

    def keep(fig, stem):
        fig.canvas.draw()  # tick labels get their text when drawn
        kept[Path(stem).name] = fig
        return []

    monkeypatch.setattr(figures, "save_figure", keep)
    yield kept
    for fig in kept.values():
        plt.close(fig)


def figure2(records, drawn, **kwargs):
    figures.plot_figure2(figures.figure2_series(records, **kwargs), 8, Path("figure2"))
    top, bottom = drawn["figure2"].axes
    return top, bottom


def figure3(records, drawn) -> dict:
    figures.plot_figure3(*figures.figure3_series(records), 8, Path("figure3"))
    fig = drawn["figure3"]
    names = ("dissimilar", "random", "normalised")
    return {name: ax for name, ax in zip(names, fig.axes)}


def tick_numbers(ax) -> list[str]:
    """The y tick labels a reader sees."""
    return [t.get_text() for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]


def bars(ax) -> int:
    return sum(isinstance(c, ErrorbarContainer) for c in ax.containers)


def promises_bars(ax) -> bool:
    return "t-interval" in ax.get_title()


def crossing_lines(ax, cuts) -> list:
    """Drawn lines that join two measured cuts across a cut with no nets."""
    crossing = []
    for line in ax.get_lines():
        xs = [round(x) for x in line.get_xdata()]
        if len(xs) > 1 and line.get_linestyle() not in ("None", "none", ""):
            for a, b in zip(xs, xs[1:]):
                if any(a < n < b and n not in cuts for n in ALL_CUTS):
                    crossing.append((a, b))
    return crossing


def test_an_empty_panel_leaves_its_neighbour_its_tick_numbers(tmp_path, drawn):
    # no dissimilar split, a random-weights control: the panels share their y-range
    axes = figure3(study_records(tmp_path, random_weights=True), drawn)
    assert "No semantic" in " ".join(t.get_text() for t in axes["dissimilar"].texts)
    assert tick_numbers(axes["random"]) and tick_numbers(axes["normalised"])
    assert tick_numbers(axes["dissimilar"]) == []  # the empty panel shows none of its own


def test_no_data_hides_only_its_own_ticks():
    fig = plt.figure()
    empty = fig.add_subplot(1, 2, 1)
    full = fig.add_subplot(1, 2, 2, sharex=empty, sharey=empty)  # as Figure 3's top panels
    full.plot([0, 1, 2], [0.1, 0.5, 0.9])
    drawing.no_data(empty, "nothing here")
    fig.canvas.draw()
    assert tick_numbers(full) and [t for t in full.get_xticklabels() if t.get_text()]
    assert tick_numbers(empty) == []
    plt.close(fig)


@pytest.mark.parametrize(
    "splits, cuts",
    [(("s0",), ALL_CUTS), (("s0", "s1", "s2"), ALL_CUTS), (("s0",), (1, 2, 7))]
    + [(("s0", "s1", "s2"), (1, 2, 7))],
    ids=["one group", "three groups", "one group, sparse", "three groups, sparse"],
)
def test_figure2_promises_only_what_it_draws(tmp_path, drawn, splits, cuts):
    _, bottom = figure2(study_records(tmp_path, splits, cuts), drawn)
    title = bottom.get_title()
    assert bars(bottom) > 0 if len(splits) > 1 else bars(bottom) == 0
    assert promises_bars(bottom) == (bars(bottom) > 0)
    if len(splits) == 1:
        assert "one split and seed" in title and "no interval" in title
        assert "mean over groups" not in title
    assert crossing_lines(bottom, cuts) == []
    if cuts == (1, 2, 7):  # the isolated points at n = 7 are explained
        assert "no nets at n = 3-6, so no line crosses them" in title
    else:
        assert "no nets" not in title


def test_figure2_states_the_interval_of_the_rules(tmp_path, drawn):
    records = study_records(tmp_path, ("s0", "s1", "s2"))
    _, bottom = figure2(records, drawn, rules=ReportSpec(alpha=0.025))
    assert "95% t-interval over splits" in bottom.get_title()


@pytest.mark.parametrize("cuts", [ALL_CUTS, (1, 2, 7)], ids=["all cuts", "sparse"])
def test_figure3_titles_say_what_its_bars_are(tmp_path, drawn, cuts):
    axes = figure3(study_records(tmp_path, ("s0", "s1"), cuts, random_weights=True), drawn)
    for name in ("random", "normalised"):
        ax = axes[name]
        assert promises_bars(ax) == (bars(ax) > 0), name
        assert ("no bars" in ax.get_title()) == (bars(ax) == 0), name
        assert crossing_lines(ax, cuts) == [], name
        assert ("no nets at n = 3-6" in ax.get_title()) == (cuts == (1, 2, 7)), name


def test_line_notes_name_each_treatment_gap_and_the_mixed_bars():
    def series(label, line):
        return {"label": f"{label} (2 nets per cut)", "line": line}

    nan = math.nan
    notes = drawing.line_notes(
        [
            series("AnB", [(0, 0.0, nan), (1, -1.0, 0.5), (2, -2.0, nan), (3, -3.0, 0.5)]),
            series("BnB", [(0, 0.0, nan), (1, -1.0, 0.5), (3, -2.0, 0.4)]),
        ],
        "an interval",
        "net",
    )
    assert notes == [
        "bars: an interval; none where a cut has one net",
        "no BnB nets at n = 2, so no line crosses them",
    ]
    assert drawing.cut_text([3, 4, 5, 7]) == "n = 3-5, 7"
    assert drawing.line_notes([], "an interval", "net") == []


@pytest.mark.parametrize(
    "name, shown",
    [
        ("convnet8", "convnet8 width 0.5"),
        ("resnet18", "resnet18 width 0.5"),
        ("mypkg.models:small_cnn", "mypkg.models:small_cnn"),
        ("hf:models/tiny-vit", "hf:models/tiny-vit"),
    ],
)
def test_the_caption_shows_a_width_only_for_built_in_nets(tmp_path, name, shown):
    study = StudyInfo(name="s", net=NetSpec(name=name, width=0.5), train=TrainSpec(epochs=2))
    caption = writer.figure_caption(study, study_records(tmp_path), tmp_path)
    assert f"; {shown};" in caption
    assert ("width" in caption) == (":" not in name)


def test_the_caption_without_a_study_lists_seeds_as_words(tmp_path):
    caption = writer.figure_caption(None, study_records(tmp_path), tmp_path / "results.csv")
    assert "seeds 0;" in caption and "[" not in caption
