"""Frozen specs of a study and of one job; every default lives here.

The ground floor of the package: every other module may import it, it imports none of them. A
study (a TOML file, see `study/studyfile.py`) expands into `JobSpec`s (see `study/plan.py`). A job
is a pure function of its JobSpec: `job_id` hashes the scientific fields only, so moving the data
folder or changing the number of workers never orphans a finished job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

HALVES = ("A", "B")
TREATMENTS = ("BnB", "BnB+", "AnB", "AnB+", "random")


@dataclass(frozen=True)
class DataSpec:
    name: str = "fashion-mnist"
    n_val: int = 5000  # images held out of the official training set, for validation and best-k
    val_seed: int = 0  # which images are held out; the same for every job of a study
    n_train_per_class: int = 0  # keep the first k training images of each class; 0 keeps all
    image_size: int = 0  # image-folder: side in pixels after resizing (0: 32); 256 for ImageNet
    normalize: str = "mean-std"  # inputs (x - mean) / std; "mean": x - mean in 0..255 units, as
    # Caffe fed its nets (the reference init, std 0.01, was chosen for that input scale)
    class_names: tuple[str, ...] = ()  # "idx": the classes' names in label order; () reads
    # classes.txt beside the files, else names them by index
    # What the data are, not where they lie: a hash of the files' content (data/registry.py's
    # `fingerprint`), set when a study is loaded; "" for the canonical Fashion-MNIST, so finished
    # default studies keep their ids. Two data sets that differ in content never share a job id.
    fingerprint: str = ""
    path: str | None = field(default=None, compare=False)  # where the files are; not scientific


@dataclass(frozen=True)
class NetSpec:
    name: str = "convnet8"
    width: float = 0.5  # channel multiplier: 1.0 gives conv 24-64-96-96-64, fc 512
    init: str = "kaiming"  # "kaiming" (scaled, for small nets) or "reference" (the Caffe net's)
    dropout: float = 0.5  # after fc6 and fc7, as in the reference net
    n_outputs: int = 0  # outputs of the last layer; 0: the target half's classes. The original
    # study kept a 1000-way fc8 for every half (only 500 of its outputs ever saw a label)


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.01  # SGD learning rate per batch of `batch_size`
    momentum: float = 0.9
    weight_decay: float = 5e-4  # on trainable parameters only; frozen ones are not in the optimiser
    lr_milestones: tuple[int, ...] = (6,)  # epochs after which lr *= lr_gamma (step schedule)
    lr_gamma: float = 0.1
    best_k: int = 3  # the original study's score: mean of the k best validation evaluations
    bias_lr_mult: float = 1.0  # learning rate of biases / that of weights (Caffe's original: 2)
    bias_decay: bool = True  # weight decay on biases too (Caffe's original: no)
    crop: int = 0  # > 0: random crop x crop windows in training, the centre crop at evaluation
    crop_pad: int = 0  # zero padding before the random crop (CIFAR style: 4, with crop 32)
    mirror: bool = False  # random horizontal mirrors in training (p = 0.5)
    precision: str = "fp32"  # "bf16": forward and loss under bfloat16 autocast (GPU speed)
    steps: int = 0  # > 0: this many SGD steps in all, whatever the data's size, spread evenly
    # over `epochs` evaluation periods (lr milestones count periods); 0: `epochs` passes over the
    # data. The data-volume experiment holds steps fixed across k, as the original did.

    @property
    def augments(self) -> bool:
        """Random crops or mirrors: the inputs differ every epoch, so nothing can be cached."""
        return self.mirror or self.crop > 0


@dataclass(frozen=True)
class ResourceSpec:
    """What one job asks of a cluster node (Ray executor); not scientific, not in the job id."""

    cpus: float = 1.0  # also the job's torch threads
    gpus: float = 0.0  # > 0: the job trains on "cuda"; fractions share a GPU between jobs


@dataclass(frozen=True)
class ReportSpec:
    """How the report turns numbers into verdicts (the study file's [report]); not scientific,
    in no job id, so changing it rewrites the report and trains nothing."""

    margin: float = 1.0  # points: an equality (AnB = baseB) holds when the 90% interval of the
    # difference lies within +- margin (two one-sided tests at 5%)
    noise: float = 1.0  # points: the seed-to-seed spread of one net's top-1, used as the interval
    # of a study with a single base group, where none can be measured (stated, not measured)
    alpha: float = 0.05  # the level of every test (one-sided 5% each side: 90% intervals)


@dataclass(frozen=True)
class SplitSpec:
    """Two disjoint class sets A and B, as indices of the data set's classes."""

    name: str  # "s0" for the random split of seed 0, else the group split's name
    kind: str  # "random" (similar halves) or "semantic" (dissimilar); a label, not in the job id
    A: tuple[int, ...]
    B: tuple[int, ...]

    def classes(self, half: str) -> tuple[int, ...]:
        return self.A if half == "A" else self.B


@dataclass(frozen=True)
class JobSpec:
    """One network of the study: a base net, or a treatment of cut `n_copied`.

    source: the half whose base net gives layers 1..n ("A"/"B"), "random" for the random control,
    or equal to target for a base net (n_copied == 0).
    """

    study: str
    data: DataSpec
    net: NetSpec
    train: TrainSpec
    split: SplitSpec
    source: str
    target: str
    n_copied: int
    fine_tune: bool
    seed: int

    @property
    def treatment(self) -> str:
        if self.n_copied == 0:
            return "base"
        if self.source == "random":
            return "random"
        return "selffer" if self.source == self.target else "transfer"

    @property
    def display_name(self) -> str:
        """The paper's notation, e.g. `s0:A3B+`, `s0:baseB`, `s0:R3B` (random control)."""
        if self.treatment == "base":
            body = f"base{self.target}"
        else:
            src = "R" if self.source == "random" else self.source
            body = f"{src}{self.n_copied}{self.target}{'+' if self.fine_tune else ''}"
        return f"{self.split.name}:{body}#{self.seed}"

    @property
    def id(self) -> str:
        return job_id(self)

    def parent(self) -> JobSpec | None:
        """The base net whose first n layers this job copies, or None."""
        if self.treatment in ("base", "random"):
            return None
        return JobSpec(
            study=self.study,
            data=self.data,
            net=self.net,
            train=self.train,
            split=self.split,
            source=self.source,
            target=self.source,
            n_copied=0,
            fine_tune=False,
            seed=self.seed,
        )


# The version of the training semantics: part of every job id, so nets trained by code that
# computes other numbers are never reused as if new. Bump it for any change that changes a net.
#   1: the first releases (unversioned ids)
#   2: dropout draws from a seed of its own (it shared the init's); a bf16 cached prefix runs
#      under the training's autocast
TRAINING_VERSION = 2

# Fields added after the first release, with the value that gives the first release's behaviour.
# A field at that value is left out of the job id, so studies run before the field existed keep
# their ids (and their finished jobs) when the code is updated.
NEUTRAL_FIELDS = {
    ("data", "image_size"): 0,
    ("data", "normalize"): "mean-std",
    ("data", "class_names"): [],
    ("data", "fingerprint"): "",
    ("net", "n_outputs"): 0,
    ("train", "bias_lr_mult"): 1.0,
    ("train", "bias_decay"): True,
    ("train", "crop"): 0,
    ("train", "crop_pad"): 0,
    ("train", "mirror"): False,
    ("train", "precision"): "fp32",
    ("train", "steps"): 0,
}


def scientific_fields(spec: JobSpec) -> dict:
    """The fields a result depends on: what the data are (not where they lie), the net, the
    schedule, the classes of each half, the treatment and seed, and the training semantics'
    version; not the names of the study or the split, nor the split's kind (labels of the
    report). Later-added fields at their neutral value (NEUTRAL_FIELDS) are left out."""
    fields = json.loads(json.dumps(asdict(spec)))  # tuples as lists, as in the JSON hashed
    fields.pop("study")
    fields["data"].pop("path")
    fields["split"] = {"A": fields["split"]["A"], "B": fields["split"]["B"]}
    for (section, name), neutral in NEUTRAL_FIELDS.items():
        if fields[section][name] == neutral:
            del fields[section][name]
    fields["semantics"] = TRAINING_VERSION
    return fields


def job_id(spec: JobSpec) -> str:
    canonical = json.dumps(scientific_fields(spec), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def seed_hash(*args) -> int:
    """A 31-bit seed from any JSON-able values (DomainBed's `seed_hash`)."""
    digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF
