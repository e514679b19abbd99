"""A study as the tool holds it once its file is read (StudySpec): its data, model, schedule,
splits, what each split runs (Experiment), the data-volume experiment (VolumeSpec), a
pretrained source, and how the report decides; with the study file's key names. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from featuretransfer.specs import (
    TREATMENTS,
    DataSpec,
    NetSpec,
    ReportSpec,
    ResourceSpec,
    SourceSpec,
    SplitSpec,
    TrainSpec,
)


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and key."""


TOP_KEYS = (
    "name",
    "description",
    "data",
    "model",
    "train",
    "study",
    "splits",
    "volume",
    "resources",
    "report",
    "source",
)
STUDY_KEYS = ("treatments", "cuts", "targets", "seeds")  # [study], or one split's own
STRING_LISTS = ("data.class_names",)  # list-valued keys of strings (the rest hold integers)
DERIVED = ("data.fingerprint",)  # spec fields the tool computes: never set in a study file
SPLIT_KINDS = ("random", "semantic")


@dataclass(frozen=True)
class Experiment:
    """What one split runs; None keeps the [study] value (see StudySpec.experiment)."""

    split: str  # the split's name
    treatments: tuple[str, ...] | None = None
    cuts: tuple[int, ...] | None = None
    targets: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class VolumeSpec:
    """The supplementary data-volume experiment: base nets on the first k images per class."""

    n_train_per_class: tuple[int, ...] = ()  # the k's; 0 keeps all; empty: no such experiment
    seeds: tuple[int, ...] | None = None  # None: the [study] seeds
    splits: tuple[str, ...] | None = None  # split names; None: the first split
    # "steps": every k trains as many SGD steps as the main base net of its half (as the
    # original's fixed-iteration solvers: a small k is passed many times, and overfits);
    # "epochs": every k trains `train.epochs` passes over its own images (a small k then takes
    # few steps and is undertrained, not overfit)
    schedule: str = "steps"


@dataclass(frozen=True)
class StudySpec:
    name: str
    description: str
    data: DataSpec
    net: NetSpec
    train: TrainSpec
    splits: tuple[SplitSpec, ...]
    treatments: tuple[str, ...] = TREATMENTS
    cuts: tuple[int, ...] = ()  # empty: every cut 1..L-1
    targets: tuple[str, ...] = ("B",)  # "A", "B": which half the treatments train on
    seeds: tuple[int, ...] = (0,)  # replicate seeds: each has its own base nets
    resources: ResourceSpec = ResourceSpec()  # per job, on a cluster
    experiments: tuple[Experiment, ...] = ()  # the splits that set their own keys
    volume: VolumeSpec = VolumeSpec()
    report: ReportSpec = ReportSpec()  # how the report decides; not in any job id
    # training images per class after the validation hold-out, read from the data where the
    # plan needs them (a [volume] with fixed steps); derived from the data, not a setting
    class_counts: tuple[int, ...] = ()
    source: SourceSpec | None = None  # a pretrained source in the place of baseA
    # > 1: each target's base net is also trained this many times as long (epochs, milestones,
    # warm-up, steps), so the report can check that the base nets converged: a control that
    # gains from longer training is no control (observations 3 and 5); 0: no such check
    convergence: int = 0

    def experiment(self, split: SplitSpec) -> Experiment:
        """The split's treatments, cuts, targets and seeds: its own where set, else the study's."""
        own = next((e for e in self.experiments if e.split == split.name), Experiment(split.name))
        values = {key: getattr(own, key) for key in STUDY_KEYS if getattr(own, key) is not None}
        return Experiment(split.name, **{key: getattr(self, key) for key in STUDY_KEYS} | values)
