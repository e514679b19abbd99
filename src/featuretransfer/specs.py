"""Frozen specs of a study and of one job; every default lives here.

The ground floor of the package: every other module may import it, it imports none of them. A
study (a TOML file, see `study/studyfile.py`) expands into `JobSpec`s (see `study/plan.py`). A job
is a pure function of its JobSpec: `job_id` hashes the scientific fields only, so moving the data
folder or changing the number of workers never orphans a finished job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

HALVES = ("A", "B")
TREATMENTS = ("BnB", "BnB+", "AnB", "AnB+", "random")
SOURCE = "S"  # JobSpec.source of a net whose layers 1..n come from a pretrained checkpoint


def setting(
    default,
    *,
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    one_of: tuple = (),
    free: str = "",
):
    """A spec field with the values it allows, checked once when a study is loaded
    (`check_settings`): numbers (each element of a tuple) within the bounds, strings one of
    `one_of`; `free` says why a field has no range (a name, a path, a value the tool derives).
    Every field of a spec that a study file sets is declared this way (tested), so a new field
    cannot skip the check."""
    rule = {"at_least": at_least, "above": above, "below": below, "at_most": at_most}
    rule = {k: v for k, v in rule.items() if v is not None}
    if one_of:
        rule["one_of"] = one_of
    if free:
        rule["free"] = free
    return field(default=default, metadata={"range": rule})


def range_text(rule: dict) -> str:
    """'>= 1', '> 0 and < 1', "one of 'fp32', 'bf16'"."""
    if "one_of" in rule:
        return "one of " + ", ".join(repr(v) for v in rule["one_of"])
    words = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}
    return " and ".join(f"{words[k]} {rule[k]:g}" for k in words if k in rule)


def out_of_range(value, rule: dict) -> bool:
    if "one_of" in rule:
        return value not in rule["one_of"]
    if isinstance(value, (tuple, list)):
        return any(out_of_range(v, rule) for v in value)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return bool(rule)
    return (
        ("at_least" in rule and value < rule["at_least"])
        or ("above" in rule and value <= rule["above"])
        or ("below" in rule and value >= rule["below"])
        or ("at_most" in rule and value > rule["at_most"])
    )


def check_settings(spec, section: str, keys=None) -> None:
    """Raise ValueError naming `section.key`, its value and its range at the first field of
    `spec` (one of `keys`, default all) out of its declared range."""
    for f in dataclasses.fields(spec):
        rule = f.metadata.get("range", {})
        if keys is not None and f.name not in keys:
            continue
        value = getattr(spec, f.name)
        if out_of_range(value, rule):
            each = "each " if isinstance(value, tuple) and "one_of" not in rule else ""
            shown = list(value) if isinstance(value, tuple) else value
            raise ValueError(f"{section}.{f.name} = {shown!r} should {each}be {range_text(rule)}")


@dataclass(frozen=True)
class DataSpec:
    name: str = setting("fashion-mnist", free="checked against the data registry")
    # images held out of the official training set, for validation and best-k
    n_val: int = setting(5000, at_least=0)
    val_seed: int = setting(0, at_least=0)  # which images are held out; one per study
    # keep the first k training images of each class; 0 keeps all
    n_train_per_class: int = setting(0, at_least=0)
    # image-folder: side in pixels after resizing (0: 32); 256 for ImageNet
    image_size: int = setting(0, at_least=0, at_most=4096)
    # inputs (x - mean) / std; "mean": x - mean in 0..255 units, as Caffe fed its nets (the
    # reference init, std 0.01, was chosen for that input scale); "model": pixel values in
    # 0..1, which the model normalises itself (an hf: model by net.mean and net.std: its
    # pretrained source's image processor's, data/scaling.py)
    normalize: str = setting("mean-std", one_of=("mean-std", "mean", "model"))
    # "idx": the classes' names in label order; () reads classes.txt beside the files, else
    # names them by index
    class_names: tuple[str, ...] = setting((), free="names")
    # What the data are, not where they lie: a hash of the files' content (data/registry.py's
    # `fingerprint`), set when a study is loaded; "" for the canonical Fashion-MNIST, so finished
    # default studies keep their ids. Two data sets that differ in content never share a job id.
    fingerprint: str = setting("", free="derived from the data")
    # where the files are; not scientific
    path: str | None = field(default=None, compare=False, metadata={"range": {"free": "a path"}})


@dataclass(frozen=True)
class NetSpec:
    name: str = setting("convnet8", free="checked against the models' registry")
    # channel multiplier: 1.0 gives conv 24-64-96-96-64, fc 512
    width: float = setting(0.5, above=0, at_most=16)
    # "kaiming" (scaled, for small nets) or "reference" (the Caffe net's)
    init: str = setting("kaiming", one_of=("kaiming", "reference"))
    dropout: float = setting(0.5, at_least=0, below=1)  # after fc6 and fc7, as in the reference
    # outputs of the last layer; 0: the target half's classes. The original study kept a
    # 1000-way fc8 for every half (only 500 of its outputs ever saw a label)
    n_outputs: int = setting(0, at_least=0)
    # A user's model (name "pkg.module:factory" or "hf:FOLDER"; see nets/units.py): its
    # transferable units, dotted submodule names in forward order
    units: tuple[str, ...] = setting((), free="submodule names")
    # the factory's keyword arguments, sorted by name
    args: tuple[tuple[str, object], ...] = setting((), free="the factory's own")
    # of the factory's module file, or of the hf folder's config.json: an edited model never
    # reuses the nets of the old one
    code_sha256: str = setting("", free="derived")
    # an hf: model named by a hub id: the commit its revision resolved to when the study was
    # loaded ("" for a folder), so a moved branch never reuses the nets of the old commit
    revision: str = setting("", free="derived: a hub commit")
    # an hf: model's own input normalisation, per channel (or one value for all) in 0..1 units:
    # (x - mean) / std on pixel values x in 0..1 (data.normalize = "model"), as its pretrained
    # source's image processor (image_mean, image_std) or the study's [model] mean, std; ()
    # where the data's own statistics normalise the inputs
    mean: tuple[float, ...] = setting((), at_least=0, at_most=1)
    std: tuple[float, ...] = setting((), above=0)
    # an hf: model with a pretrained hf: source keeps its config's input channels and image size
    # (the source's tensors fit it unchanged): the images are converted to its channels (grey
    # repeated, RGB averaged) and a ViT's position embeddings interpolated to the data's size;
    # False: the architecture is adapted to the data (nets/hf.py)
    keeps_input_shape: bool = setting(False, free="derived from the source")
    # the model file or hf folder, resolved; not scientific (the content hash is)
    path: str | None = field(default=None, compare=False, metadata={"range": {"free": "a path"}})


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = setting(8, at_least=1)
    batch_size: int = setting(128, at_least=1)
    lr: float = setting(0.01, above=0)  # SGD learning rate per batch of `batch_size`
    momentum: float = setting(0.9, at_least=0, below=1)
    # on trainable parameters only; frozen ones are not in the optimiser
    weight_decay: float = setting(5e-4, at_least=0)
    # epochs after which lr *= lr_gamma (step schedule)
    lr_milestones: tuple[int, ...] = setting((6,), at_least=1)
    lr_gamma: float = setting(0.1, above=0, at_most=1)
    # "step": lr, times lr_gamma after each milestone; "cosine": a linear warm-up from 0 to lr
    # over `warmup_epochs`, then a cosine decay to 0 at the last step (set per step)
    schedule: str = setting("step", one_of=("step", "cosine"))
    warmup_epochs: int = setting(0, at_least=0)  # cosine only: epochs (periods) of warm-up
    # the original study's score: mean of the k best validation evaluations
    best_k: int = setting(3, at_least=1)
    # learning rate of biases / that of weights (Caffe's original: 2)
    bias_lr_mult: float = setting(1.0, above=0)
    bias_decay: bool = setting(True, free="a boolean")  # decay on biases (Caffe's original: no)
    # > 0: random crop x crop windows in training, the centre crop at evaluation
    crop: int = setting(0, at_least=0)
    # zero padding before the random crop (CIFAR style: 4, with crop 32)
    crop_pad: int = setting(0, at_least=0)
    mirror: bool = setting(False, free="a boolean")  # random horizontal mirrors (p = 0.5)
    # "bf16": matrix products and convolutions under bfloat16 autocast (weights, the loss, LRN
    # and the optimiser in fp32); "auto": bf16 where the device has native bf16 units, else
    # fp32, resolved when the study is loaded (study/precision.py), before any job id
    precision: str = setting("auto", one_of=("auto", "fp32", "bf16"))
    # > 0: this many SGD steps in all, whatever the data's size, spread evenly over `epochs`
    # evaluation periods (lr milestones count periods); 0: `epochs` passes over the data. The
    # data-volume experiment holds steps fixed across k, as the original did.
    steps: int = setting(0, at_least=0)

    @property
    def augments(self) -> bool:
        """Random crops or mirrors: the inputs differ every epoch, so nothing can be cached."""
        return self.mirror or self.crop > 0


@dataclass(frozen=True)
class ResourceSpec:
    """What one job asks of a cluster node (Ray executor); not scientific, not in the job id."""

    cpus: float = setting(1.0, above=0)  # also the job's torch threads
    # > 0: the job trains on "cuda"; fractions share a GPU between jobs
    gpus: float = setting(0.0, at_least=0)


@dataclass(frozen=True)
class ReportSpec:
    """How the report turns numbers into verdicts (the study file's [report]); not scientific,
    in no job id, so changing it rewrites the report and trains nothing."""

    # points: an equality (AnB = baseB) holds when the 90% interval of the difference lies
    # within +- margin (two one-sided tests at 5%)
    margin: float = setting(1.0, above=0, at_most=100)
    # points: the seed-to-seed standard deviation of one net's top-1, stated, for a single split
    # and seed (no replicate) where the study has no reseeded base nets to measure it on; a
    # difference of two nets carries sqrt(2) of it (docs/statistics.md)
    noise: float = setting(1.0, at_least=0, at_most=100)
    # the level of every test (one-sided 5% each side: 90% intervals)
    alpha: float = setting(0.05, above=0, below=0.5)


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
class SourceSpec:
    """A pretrained source: a checkpoint whose layers 1..n the "S" treatments copy (the paper's
    baseA, trained elsewhere). Only its content hash is scientific."""

    sha256: str  # of the checkpoint file's bytes
    path: str = field(default="", compare=False)  # where it is, resolved
    trained_on: str = field(default="", compare=False)  # free text for the report
    # a save_pretrained folder or hub repository with pickled weights only (.bin): read them
    # anyway ([source] allow_pickle = true); the content hash is the same either way
    allow_pickle: bool = field(default=False, compare=False, metadata={"range": {"free": "bool"}})


@dataclass(frozen=True)
class JobSpec:
    """One network of the study: a base net, or a treatment of cut `n_copied`.

    source: the half whose base net gives layers 1..n ("A"/"B"), "" for the random-weights
    control (no source: layers 1..n random), "S" for the pretrained checkpoint `pretrained`, or
    equal to target for a base net. ("random" names only a split kind and the treatment.)
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
    pretrained: SourceSpec | None = None  # the checkpoint of source "S"; None for every other net
    # What the net is for in its study, a label like `study` (not in the id): "main" (Figure 2's
    # nets), "volume" (a base net on other k images per class), or "longer" (a base net trained
    # [study] convergence times as long: the check that the main base nets converged)
    role: str = "main"

    @property
    def treatment(self) -> str:
        if self.n_copied == 0:
            return "base"
        if self.source == "":
            return "random"
        return "selffer" if self.source == self.target else "transfer"

    @property
    def display_name(self) -> str:
        """The paper's notation, e.g. `s0:A3B+`, `s0:baseB`, `s0:R3B` (random control)."""
        if self.treatment == "base":
            body = f"base{self.target}" + ("-longer" if self.role == "longer" else "")
        else:
            src = self.source or "R"
            body = f"{src}{self.n_copied}{self.target}{'+' if self.fine_tune else ''}"
        return f"{self.split.name}:{body}#{self.seed}"

    @property
    def id(self) -> str:
        return job_id(self)

    def parent(self) -> JobSpec | None:
        """The base net whose first n layers this job copies, or None."""
        if self.treatment in ("base", "random") or self.source == SOURCE:
            return None  # a source net copies from its checkpoint, not from a job
        return self.base_of(self.source)

    def base_of(self, half: str) -> JobSpec:
        """The main base net of `half` in this job's split and seed, on its data and settings."""
        return JobSpec(
            study=self.study,
            data=self.data,
            net=self.net,
            train=self.train,
            split=self.split,
            source=half,
            target=half,
            n_copied=0,
            fine_tune=False,
            seed=self.seed,
        )


# The version of the training semantics: part of every job id, so nets trained by code that
# computes other numbers are never reused as if new. Bump it for any change that changes a net.
#   1: the first releases (unversioned ids)
#   2: dropout draws from a seed of its own (it shared the init's); a bf16 cached prefix runs
#      under the training's autocast
#   3: LRN computes in fp32 under bf16 autocast (its sums rounded away in bf16)
#   4: every field in the id (no field left out at a neutral value), Fashion-MNIST named by its
#      content like any data set, the random-weights control's source "" (no source)
TRAINING_VERSION = 4


def scientific_fields(spec: JobSpec) -> dict:
    """The fields a result depends on: what the data are (not where they lie), the net, the
    schedule, the classes of each half, the treatment and seed, a pretrained source's content,
    and the training semantics' version; not the names of the study or the split, the split's
    kind, the classes' names or the net's role (labels of the report), nor where files lie."""
    fields = json.loads(json.dumps(asdict(spec)))  # tuples as lists, as in the JSON hashed
    for label in ("study", "role"):
        fields.pop(label)
    fields["data"].pop("path")
    fields["data"].pop("class_names")  # labels of the report, as the split's name is
    fields["net"].pop("path")
    fields["split"] = {"A": fields["split"]["A"], "B": fields["split"]["B"]}
    if spec.pretrained is not None:  # its content, not where it lies nor its free text
        fields["pretrained"] = {"sha256": spec.pretrained.sha256}
    fields["semantics"] = TRAINING_VERSION
    return fields


def job_id(spec: JobSpec) -> str:
    if spec.train.precision == "auto":  # an id names the precision the net trains in
        raise ValueError("train.precision 'auto' must be resolved before a job id is computed")
    canonical = json.dumps(scientific_fields(spec), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def seed_hash(*args) -> int:
    """A 31-bit seed from any JSON-able values (DomainBed's `seed_hash`)."""
    digest = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF
