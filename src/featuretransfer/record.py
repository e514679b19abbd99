"""One finished net's record: the row of results.csv, written once here.

`Record`'s fields, in order, are results.csv's header (COLUMNS); their types are the types the
report parses a table with (report/results.py), and their defaults those of a table made
elsewhere, which needs only the REQUIRED columns. The names are the JobSpec's where they mean the
same (n_copied, fine_tune, seed; val_acc as in each epoch's history), so a quantity has one name
from the spec to the table. A net's record.json holds these fields and more (its history, its
spec, the hashes of its weights and its parent's: run/job.py).

Adding a column is one edit: a field here (with its default), written where the net finishes.
The ground floor: imports nothing of the package.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields

NAN = math.nan


def required():
    """A column every table must have (no default: the report refuses a table without it)."""
    return field(default=None, metadata={"required": True})


@dataclass(frozen=True)
class Record:
    job_id: str = ""
    study: str = ""
    split: str = required()  # the split's name: s0 for the random split of seed 0
    split_kind: str = "random"  # random, semantic, or source (a pretrained source's target)
    source: str = required()  # the half whose base net gave layers 1..n, S, or "" (random)
    target: str = required()  # the half the net trains on
    treatment: str = required()  # base, selffer, transfer or random (weights)
    n_copied: int = required()  # the cut n: layers 1..n copied (0 for a base net)
    fine_tune: bool = required()  # the copied layers trained on (+), or frozen
    seed: int | None = None
    role: str = "main"  # main, volume (a base net on other k), longer (the convergence check)
    n_layers: int | None = None  # L: transferable layers (cuts 1..L-1)
    status: str = "done"  # done, or diverged (left out of every mean)
    top1: float = required()  # final top-1 on the test set: the reported score, in 0..1
    top1_best_k: float = NAN  # the original's score: the mean of the k best validation top-1
    val_acc: float = NAN  # validation top-1 after the last epoch
    n_train_per_class: int = 0  # training images per class (0: all)
    train_top1: float = NAN  # top-1 on its own training images (the train-test gap)
    epochs: int | None = None  # evaluation periods trained
    precision: str = ""  # fp32 or bf16, as it trained ("auto" resolved)
    seconds: float = NAN  # wall time of its training, evaluation and records
    model: str = ""  # model.name
    weights: str = ""  # its weights file, relative to the table's folder
    threads: str = ""  # torch threads ("2", or "2+1" for a net resumed under others)
    device: str = ""  # cpu, or cuda (its name)
    fused: str = ""  # nets in its stacked pass (1: alone)
    source_trained_on: str = ""  # what a pretrained source S was trained on (free text)
    n_classes: int | None = None  # of its target half: chance is 1 / n_classes
    n_test: int | None = None  # test images: top-1's binomial error is sqrt(p (1 - p) / n_test)
    n_parameters: int | None = None  # all of its parameters
    n_trainable: int | None = None  # those the optimiser held (frozen ones are not)

    @property
    def label(self) -> str:
        return label(self.treatment, self.fine_tune, self.source)


def label(treatment: str, fine_tune: bool, source: str = "") -> str:
    """The paper's name of a net: baseB, BnB, BnB+, AnB, AnB+, random weights(+); AnA is folded
    into BnB and BnA into AnB, as the paper does; a net whose layers come from a pretrained
    source ("S") is SnB."""
    transfer = "SnB" if source == "S" else "AnB"
    names = {"base": "baseB", "selffer": "BnB", "transfer": transfer, "random": "random weights"}
    return names[treatment] + ("+" if fine_tune and treatment != "base" else "")


COLUMNS = tuple(f.name for f in fields(Record))
REQUIRED = tuple(f.name for f in fields(Record) if f.metadata.get("required"))
TYPES = {f.name: f.type for f in fields(Record)}  # "int | None", "float", ... (annotations)
DEFAULTS = {
    f.name: f.default for f in fields(Record) if f.default is not MISSING and f.name not in REQUIRED
}
