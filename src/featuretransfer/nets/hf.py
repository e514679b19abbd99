"""Hugging Face vision models as layered nets: `[model] name = "hf:FOLDER"` or a hub id
`"hf:ORG/NAME[@REVISION]"` (nets/hub.py; optional extra `pip install 'featuretransfer[hf]'`;
transformers is imported only here, only when such a model is used).

The architecture comes from FOLDER/config.json (`AutoConfig.from_pretrained(FOLDER,
local_files_only=True)`: nothing is downloaded here), adapted to the study's data (num_labels,
num_channels, image_size), and is built with random weights from the job's seed; the folder's
weights enter a study only as its pretrained source (`[source] checkpoint = "FOLDER"`), so no
base net starts from them unawares. Units are found for the families users meet most (ViT,
DeiT: embeddings, each encoder layer, final norm + classifier; ResNet, ConvNeXt: embedder,
each stage, final norm + classifier) by one rule (`hf_units`); `[model] units` overrides it.

A model is data, never code: trust_remote_code is always False, a config that needs the
repository's own code (auto_map) is refused, and weights are read from safetensors only unless
the study allows pickled ones (`[source] allow_pickle = true`).

The model's own input (`InputStep`, a forward pre-hook): where the study has a pretrained hf
source, the model keeps its config's channels and image size (NetSpec.keeps_input_shape), so the
source's tensors load unchanged; grey images are repeated to its RGB channels (RGB averaged to
its grey one), and a ViT runs with `interpolate_pos_encoding=True`, transformers' bicubic
interpolation of the position embeddings to the data's patch grid at every forward. Built at the
checkpoint's size, not resized on copying: the checkpoint loads unchanged wherever it is read
(check_source, copy_layers, the estimates' source nets), a frozen embedding stays bit-identical
to the source's, and the interpolation is transformers' own (as for its fine-tuning at other
resolutions), at the cost of one small interpolation per forward pass. Where NetSpec.mean / std
are set (the source's image processor), the model normalises pixel values in 0..1 itself, per
channel (data.normalize = "model", data/scaling.py).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from featuretransfer.nets.hub import PICKLED_SUFFIXES
from featuretransfer.nets.units import ModelError, UnitNet, wrap
from featuretransfer.specs import NetSpec

PIXEL_MAX = 255.0  # an image processor's rescale_factor 1/255 maps uint8 pixels to 0..1


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ModelError(
            "model.name = 'hf:...' needs transformers: pip install 'featuretransfer[hf]'"
        ) from None
    return transformers


def config_json(folder: Path, key: str = "model.name") -> dict:
    """The folder's config.json, refused where it needs the repository's own code (an auto_map
    to classes transformers does not ship): a model is data, never code."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelError(f"{key} = 'hf:{folder}': no config.json there (save_pretrained it)")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{key} = 'hf:{folder}': unreadable config.json ({e})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{key} = 'hf:{folder}': config.json holds no JSON object")
    if config.get("auto_map") and not _native(config.get("model_type")):
        raise ModelError(
            f"{key} = 'hf:{folder}': its config needs the repository's own code (auto_map, "
            f"model_type {config.get('model_type')!r} is not in transformers); featuretransfer "
            "never runs a model's code (trust_remote_code)"
        )
    return config


def _native(model_type) -> bool:
    """Whether transformers itself has the model type (its classes, not a repository's)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return isinstance(model_type, str) and model_type in CONFIG_MAPPING


def hf_config(folder: Path, n_classes: int = 0, in_channels: int = 0, image_size: int = 0):
    """The folder's config, with the study's class count and image shape where given."""
    transformers = _transformers()
    config_json(folder)
    try:
        config = transformers.AutoConfig.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False
        )
    except Exception as e:  # noqa: BLE001 - transformers raises many types for a bad config
        raise ModelError(f"model.name = 'hf:{folder}': unreadable config ({e})") from None
    if n_classes:
        config.num_labels = n_classes
    for key, value in (("num_channels", in_channels), ("image_size", image_size)):
        if value and hasattr(config, key):
            setattr(config, key, value)
    return config


def _from_config(config) -> nn.Module:
    transformers = _transformers()
    try:
        return transformers.AutoModelForImageClassification.from_config(config)
    except ValueError as e:
        raise ModelError(f"model.name: not an image-classification model ({e})") from None


def hf_units(model: nn.Module) -> tuple[str, ...]:
    """Stem, each block of the first ModuleList (the encoder layers or stages), head.

    The stem is the base model's children with parameters before the one that holds the list;
    the head is those after it plus the top-level modules outside the base model (classifier).
    """
    prefix = getattr(model, "base_model_prefix", "")
    base = getattr(model, prefix, None) if prefix else None
    lists = [
        (n, m) for n, m in (base.named_modules() if base else []) if isinstance(m, nn.ModuleList)
    ]
    if not lists:
        raise ModelError(
            f"model.units: no units found in {type(model).__name__}; list them in model.units"
        )
    list_name, blocks = lists[0]
    holder = list_name.split(".")[0]
    children = [n for n, m in base.named_children() if any(True for _ in m.parameters())]
    if holder not in children:
        raise ModelError(f"model.units: no units found in {type(model).__name__}; list them")
    at = children.index(holder)
    stem = [f"{prefix}.{n}" for n in children[:at]]
    head = [f"{prefix}.{n}" for n in children[at + 1 :]]
    head += [
        n for n, m in model.named_children() if n != prefix and any(True for _ in m.parameters())
    ]
    if not stem or not head:
        raise ModelError(f"model.units: no stem or head found in {type(model).__name__}; list them")
    return (
        "+".join(stem),
        *(f"{prefix}.{list_name}.{i}" for i in range(len(blocks))),
        "+".join(head),
    )


def describe_hf(folder: Path) -> tuple[str, ...]:
    """The units of the folder's model, found without building its weights (meta device)."""
    with torch.device("meta"):
        return hf_units(_from_config(hf_config(folder)))


def hf_weights_files(folder: Path) -> list[Path]:
    """config.json and the weights files of a save_pretrained folder (shards included)."""
    weights = sorted(p for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".bin"))
    index = sorted(Path(folder).glob("*.index.json"))
    return [Path(folder) / "config.json", *index, *weights] if weights else []


def check_safe_weights(folder: Path, allow_pickle: bool = False) -> None:
    """Refuse a save_pretrained folder whose weights are pickled only (.bin, .pt, .pth: reading
    them can run code), unless the study allows them (`source.allow_pickle = true`)."""
    files = [p for p in Path(folder).iterdir() if p.is_file()]
    if allow_pickle or any(p.suffix == ".safetensors" for p in files):
        return
    pickled = sorted(p.name for p in files if p.suffix in PICKLED_SUFFIXES)
    if pickled:
        raise ModelError(
            f"source.checkpoint: {folder} has pickled weights only ({', '.join(pickled[:3])}), "
            "which can run code when read; set source.allow_pickle = true to read them anyway, "
            "or save them as safetensors"
        )


def load_hf_state(folder: Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The weights of a save_pretrained folder as its model holds them: read through
    from_pretrained (local files only, safetensors unless `allow_pickle`), which also maps the
    key names of older transformers versions (v5 saves ViT's layers as vit.encoder.layer.N
    but names them vit.layers.N)."""
    transformers = _transformers()
    transformers.utils.logging.disable_progress_bar()
    config_json(folder, "source.checkpoint")
    check_safe_weights(folder, allow_pickle)
    try:
        model = transformers.AutoModelForImageClassification.from_pretrained(
            str(folder),
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=None if allow_pickle else True,
        )
    except (OSError, ValueError) as e:
        raise ModelError(f"source.checkpoint: {folder} cannot be loaded ({e})") from None
    return {k: v.detach() for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class Preprocessing:
    """What an image processor does to a model's inputs, in this tool's terms: per-channel mean
    and std for pixel values in 0..1, and the image side (0: none given)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    size: int


def hf_preprocessing(folder: Path) -> Preprocessing | None:
    """The folder's preprocessor_config.json (image_mean, image_std, size), None where it has
    none. A processor that rescales by another factor than 1/255, or not at all, has its mean
    and std converted to pixel values in 0..1; one that does not normalise gives 0 and 1."""
    path = Path(folder) / "preprocessor_config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
        rescale = config.get("rescale_factor", 1 / PIXEL_MAX)
        # the processor's pixel units per unit of 0..1
        unit = PIXEL_MAX * (rescale if config.get("do_rescale", True) else 1)
        if config.get("do_normalize", True) and config.get("image_mean") is not None:
            mean = tuple(float(m) / unit for m in _listed(config["image_mean"]))
            std = tuple(float(s) / unit for s in _listed(config["image_std"]))
        else:
            mean, std = (0.0,), (1.0 / unit,)
        return Preprocessing(mean, std, _side(config))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ModelError(f"{path}: unreadable image processor config ({e})") from None


def _listed(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _side(config: dict) -> int:
    """The side of the square the processor feeds the model: its centre crop where it crops,
    else its size (height, or the shorter edge)."""
    size = config.get("crop_size") if config.get("do_center_crop") else None
    size = size or config.get("size")
    if isinstance(size, dict):
        size = size.get("height") or size.get("shortest_edge")
    return int(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else 0


def hf_input_channels(folder: Path) -> int:
    """The channels the folder's model takes (its config's num_channels; 3 where not said)."""
    return int(config_json(folder).get("num_channels", 3))


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Images [N, C, H, W] with `channels` channels: grey repeated to every channel, any
    colours averaged to grey; other conversions are refused."""
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, channels, -1, -1)
    if channels == 1:
        return x.mean(1, keepdim=True)
    raise ModelError(
        f"model: it takes {channels}-channel images and the data have {x.shape[1]} channels; "
        "only grey images convert to colour and back"
    )


class InputStep:
    """A forward pre-hook that gives an hf model its own input (see the module docstring): the
    images converted to its channels, normalised by its mean and std where given, and
    `interpolate_pos_encoding=True` for a model whose forward takes it (ViT, DeiT)."""

    def __init__(self, channels: int, mean: tuple, std: tuple, interpolate: bool):
        self.channels, self.interpolate = channels, interpolate
        self.mean = torch.tensor(mean).view(-1, 1, 1) if mean else None
        self.std = torch.tensor(std).view(-1, 1, 1) if std else None

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        kwargs = dict(kwargs)
        x = args[0] if args else kwargs.pop("pixel_values")
        x = to_channels(x, self.channels)
        if self.mean is not None:
            x = (x - self.mean.to(x.device, x.dtype)) / self.std.to(x.device, x.dtype)
        if self.interpolate:
            kwargs["interpolate_pos_encoding"] = True
        return (x, *args[1:]), kwargs


def build_hf_model(
    net: NetSpec, n_classes: int, seed: int, in_channels: int, image_size: int
) -> UnitNet:
    """The model of net.path's config for the data's images (`in_channels` x `image_size`
    px): adapted to them, or keeping its own input shape with an input step before it."""
    folder = Path(net.path)
    if net.keeps_input_shape:
        config = hf_config(folder, n_classes)
    else:
        config = hf_config(folder, n_classes, in_channels, image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _from_config(config)
    if net.keeps_input_shape or net.mean:
        takes = inspect.signature(model.forward).parameters
        step = InputStep(
            getattr(config, "num_channels", in_channels),
            net.mean,
            net.std,
            net.keeps_input_shape and "interpolate_pos_encoding" in takes,
        )
        model.register_forward_pre_hook(step, with_kwargs=True)

    def reinit(module: nn.Module) -> bool:
        model._init_weights(module)  # the model's own init, as from_config applied it
        return True

    return wrap(
        model,
        net.units or hf_units(model),
        n_classes,
        in_channels,
        image_size,
        seed,
        output=lambda out: out.logits,
        reinit=reinit,
    )
