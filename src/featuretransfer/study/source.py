"""A pretrained source: the study file's [source] section and the checkpoint it names.

    [source]
    checkpoint = "runs/my-model"   # a weights file (.safetensors, or a state_dict .pt / .bin),
                                   # a save_pretrained folder (read by transformers), a hub id
                                   # "hf:ORG/NAME[@REVISION]" (nets/hub.py), a folder holding
                                   # model.safetensors (a job folder), or a study's output
                                   # folder with:
    net = "s0:baseA#0"             # which of that study's finished nets (its name in `plan`)
    model = "my_nets:build"        # optional: the model it belongs to, checked against [model]
    trained_on = "Fashion-MNIST, 5 classes"   # free text for the report
    classes = ["Pullover", "Coat"] # the target: these classes of the study's data (default all)
    allow_pickle = true            # a save_pretrained folder or hub repository with pickled
                                   # weights only (.bin): read them anyway (default: refused)

The checkpoint's content hash enters the job id of every net that copies from it (SnB, SnB+),
so a changed file never reuses their results; it is checked again when a net reads it. A hub
snapshot's hash also holds its commit, so a moved branch never reuses them either.

An hf: model with a save_pretrained or hub source takes the source's inputs (`fit_to_source`):
it keeps its config's channels and image size, and normalises by the source's image processor
(preprocessor_config.json: image_mean, image_std) unless the study sets model.mean / model.std
or data.normalize; the processor's size is the image side of an image folder whose study sets
no data.image_size. study.json records what was used (data.normalize, net.mean, net.std).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch

from featuretransfer import store
from featuretransfer.data.registry import DATA_SETS
from featuretransfer.nets.hf import (
    check_safe_weights,
    config_json,
    hf_input_channels,
    hf_preprocessing,
    hf_weights_files,
)
from featuretransfer.nets.hub import resolve_hf, snapshot_revision
from featuretransfer.nets.units import HF_PREFIX, ModelError
from featuretransfer.specs import DataSpec, NetSpec, SourceSpec
from featuretransfer.store import file_sha256

SOURCE_KEYS = ("checkpoint", "net", "model", "trained_on", "classes", "allow_pickle")
SOURCE_TREATMENTS = ("BnB", "BnB+", "SnB", "SnB+", "random")  # S: layers 1..n from the source
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


class SourceError(ValueError):
    """A [source] that cannot be used; the message names the key."""


def parse_source(table, net: NetSpec, base: Path) -> tuple[SourceSpec, list | None]:
    """The SourceSpec of a [source] table (paths relative to `base`) and its target classes."""
    if not isinstance(table, dict):
        raise SourceError("[source] should be a table")
    for key in table:
        if key not in SOURCE_KEYS:
            raise SourceError(f"unknown key source.{key}; allowed: {', '.join(SOURCE_KEYS)}")
    for key in ("checkpoint", "net", "model", "trained_on"):
        if key in table and not isinstance(table[key], str):
            raise SourceError(f"source.{key} = {table[key]!r} should be a string")
    if "checkpoint" not in table:
        raise SourceError("source.checkpoint = ... is missing: the weights of the source")
    if "model" in table and table["model"] != net.name:
        raise SourceError(
            f"source.model = {table['model']!r} is not the study's model.name = {net.name!r}: "
            "the source's layers are copied into the study's model, so they must be one model"
        )
    classes = table.get("classes")
    if classes is not None and not isinstance(classes, list):
        raise SourceError("source.classes should be a list of class names or indices")
    allow_pickle = table.get("allow_pickle", False)
    if not isinstance(allow_pickle, bool):
        raise SourceError(f"source.allow_pickle = {allow_pickle!r} should be true or false")
    checkpoint = table["checkpoint"]
    try:
        if checkpoint.startswith(HF_PREFIX):  # a save_pretrained folder or a hub id
            if "net" in table:
                raise SourceError("source.net is for a study's output folder, not an hf: source")
            ref = checkpoint[len(HF_PREFIX) :]
            path, _ = resolve_hf(ref, base, "source.checkpoint", True, allow_pickle)
            if not hf_weights_files(path):
                raise SourceError(f"source.checkpoint = {checkpoint!r}: {path} holds no weights")
        else:
            path = checkpoint_file(Path(base) / checkpoint, table.get("net"))
        if path.is_dir():  # a save_pretrained folder or a hub snapshot: data, never code
            config_json(path, "source.checkpoint")
            check_safe_weights(path, allow_pickle)
    except ModelError as e:
        raise SourceError(str(e)) from None
    source = SourceSpec(
        sha256=content_sha256(path),
        path=str(path.resolve()),
        trained_on=table.get("trained_on", ""),
        allow_pickle=allow_pickle,
    )
    return source, classes


def fit_to_source(
    source: SourceSpec, net: NetSpec, data: DataSpec, normalize_given: bool
) -> tuple[NetSpec, DataSpec]:
    """The study's model and data for its source. An hf: model with an hf source (a
    save_pretrained folder or hub snapshot) keeps its config's input shape, and its inputs are
    normalised as the source's image processor does, unless the study gives model.mean and
    model.std (then those) or data.normalize (`normalize_given`: then the data's own
    statistics); the processor's size is the image side of an image folder without
    data.image_size. Raises SourceError naming the key."""
    folder = Path(source.path)
    pretrained_hf = net.name.startswith(HF_PREFIX) and (folder / "config.json").is_file()
    try:
        processor = hf_preprocessing(folder) if pretrained_hf else None
    except ModelError as e:
        raise SourceError(f"source.checkpoint: {e}") from None
    if pretrained_hf:
        net = dataclasses.replace(net, keeps_input_shape=True)
    if net.mean:  # the study's own
        if normalize_given and data.normalize != "model":
            raise SourceError(
                f"model.mean and model.std normalise the model's inputs; data.normalize = "
                f"{data.normalize!r} would normalise them as well: leave data.normalize out"
            )
        data = dataclasses.replace(data, normalize="model")
    elif data.normalize == "model" or (processor and not normalize_given):
        if not pretrained_hf:
            raise SourceError(
                'data.normalize = "model" is for an hf: model whose source is a save_pretrained '
                "folder or a hub id (its image processor normalises the inputs)"
            )
        if processor is None:
            raise SourceError(
                'data.normalize = "model": the source has no image processor '
                "(preprocessor_config.json) to normalise by; give model.mean and model.std"
            )
        net = dataclasses.replace(net, mean=processor.mean, std=processor.std)
        data = dataclasses.replace(data, normalize="model")
    if processor and processor.size and DATA_SETS[data.name].resized and not data.image_size:
        data = dataclasses.replace(data, image_size=processor.size)
    if net.mean:
        channels = hf_input_channels(Path(net.path)) if pretrained_hf else 0
        for key in ("mean", "std"):
            if channels and len(getattr(net, key)) not in (1, channels):
                raise SourceError(
                    f"model.{key} = {list(getattr(net, key))}: give one value or one per "
                    f"channel of the model ({channels})"
                )
    return net, data


def content_sha256(path: Path) -> str:
    """A weights file's hash, or that of a save_pretrained folder's config and weights files
    (and, for a hub snapshot, its commit)."""
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    revision = snapshot_revision(path)
    if revision:  # a hub snapshot: a moved branch gives other ids, even for the same files
        digest.update(f"revision:{revision}\n".encode())
    for file in hf_weights_files(path):
        digest.update(f"{file.name}:{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def checkpoint_file(path: Path, net: str | None) -> Path:
    """The weights file that `source.checkpoint` (and `source.net`) name."""
    if not path.exists():
        raise SourceError(f"source.checkpoint: {path} does not exist")
    if net is not None:
        if not (path / "jobs").is_dir():
            raise SourceError(
                f"source.net is for a study's output folder; {path} has no jobs/ folder"
            )
        finished = store.load_records(path)
        records = [r for r in finished if r.get("name") == net]
        if not records:
            raise SourceError(
                f"source.net = {net!r}: no finished net of that name in {path}; "
                + _net_names(finished)
            )
        if records[0]["status"] != "done":
            raise SourceError(f"source.net = {net!r} diverged in {path}: it is no source")
        return store.weights_file(store.job_dir(path, records[0]["job_id"]))
    if path.is_dir() and (path / "config.json").is_file() and hf_weights_files(path):
        return path  # a save_pretrained folder: read through transformers (nets/hf.py)
    if path.is_dir():
        for name in (store.WEIGHTS, "pytorch_model.bin", "model.pt"):
            if (path / name).is_file():
                return path / name
        raise SourceError(
            f"source.checkpoint: {path} holds no model.safetensors, pytorch_model.bin or model.pt"
            "; name the weights file, or a study's output folder with source.net"
        )
    if path.suffix not in WEIGHT_SUFFIXES:
        raise SourceError(
            f"source.checkpoint: {path.name} is not a weights file ({', '.join(WEIGHT_SUFFIXES)})"
        )
    return path


SHOWN_NETS = 8  # names listed when source.net names no finished net


def _net_names(records: list[dict]) -> str:
    """A few names a source.net can take, base nets first: they are the ones people mean, and
    by name they sort after the many transfer nets (`s0:A1B#0` before `s0:baseA#0`)."""
    names = sorted(
        (r.get("treatment") != "base", r["name"])
        for r in records
        if r.get("status") == "done" and r.get("name")
    )
    if not names:
        return "it has no finished net: run its study first"
    shown = ", ".join(name for _, name in names[:SHOWN_NETS])
    more = f" and {len(names) - SHOWN_NETS} more" if len(names) > SHOWN_NETS else ""
    return f"its finished nets, base nets first: {shown}{more}"


def load_source(source: SourceSpec) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, after checking that it is the file the study was planned with."""
    path = Path(source.path)
    if not path.exists() or content_sha256(path) != source.sha256:
        raise SourceError(
            f"source.checkpoint {path} is missing or changed since the study was planned; "
            "run the study again (nets of the new checkpoint get new ids)"
        )
    if path.is_dir():
        from featuretransfer.nets.hf import load_hf_state  # transformers only when used

        try:
            return load_hf_state(path, source.allow_pickle)
        except ModelError as e:
            raise SourceError(str(e)) from None
    try:
        state = store.load_weights(path)
    except store.DamagedError as e:
        raise SourceError(f"source.checkpoint: {e}") from None
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise SourceError(
            f"source.checkpoint {path}: {bad[0]!r} is not a tensor; save model.state_dict() "
            "itself (not a dict around it)"
        )
    return state
