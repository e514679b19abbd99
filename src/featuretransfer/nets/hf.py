"""Hugging Face vision models as layered nets: `[model] name = "hf:FOLDER"` (optional extra
`pip install 'featuretransfer[hf]'`; transformers is imported only here, only when such a model
is used).

The architecture comes from FOLDER/config.json (`AutoConfig.from_pretrained(FOLDER,
local_files_only=True)`: nothing is downloaded), adapted to the study's data (num_labels,
num_channels, image_size), and is built with random weights from the job's seed; the folder's
weights enter a study only as its pretrained source (`[source] checkpoint = "FOLDER"`), so no
base net starts from them unawares. Units are found for the families users meet most (ViT,
DeiT: embeddings, each encoder layer, final norm + classifier; ResNet, ConvNeXt: embedder,
each stage, final norm + classifier) by one rule (`hf_units`); `[model] units` overrides it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from featuretransfer.nets.units import ModelError, UnitNet, wrap


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ModelError(
            "model.name = 'hf:...' needs transformers: pip install 'featuretransfer[hf]'"
        ) from None
    return transformers


def hf_config(folder: Path, n_classes: int = 0, in_channels: int = 0, image_size: int = 0):
    """The folder's config, with the study's class count and image shape where given."""
    transformers = _transformers()
    if not (Path(folder) / "config.json").is_file():
        raise ModelError(f"model.name = 'hf:{folder}': no config.json there (save_pretrained it)")
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
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


def load_hf_state(folder: Path) -> dict[str, torch.Tensor]:
    """The weights of a save_pretrained folder as its model holds them: read through
    from_pretrained (local files only), which also maps the key names of older transformers
    versions (v5 saves ViT's layers as vit.encoder.layer.N but names them vit.layers.N)."""
    transformers = _transformers()
    transformers.utils.logging.disable_progress_bar()
    try:
        model = transformers.AutoModelForImageClassification.from_pretrained(
            str(folder), local_files_only=True
        )
    except (OSError, ValueError) as e:
        raise ModelError(f"source.checkpoint: {folder} cannot be loaded ({e})") from None
    return {k: v.detach() for k, v in model.state_dict().items()}


def build_hf_model(
    folder: Path,
    units: tuple[str, ...],
    n_classes: int,
    seed: int,
    in_channels: int,
    image_size: int,
) -> UnitNet:
    config = hf_config(folder, n_classes, in_channels, image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _from_config(config)

    def reinit(module: nn.Module) -> bool:
        model._init_weights(module)  # the model's own init, as from_config applied it
        return True

    return wrap(
        model,
        units or hf_units(model),
        n_classes,
        in_channels,
        image_size,
        seed,
        output=lambda out: out.logits,
        reinit=reinit,
    )
