"""A local Hugging Face hub cache built by a test: a folder's files laid out as huggingface_hub
caches a downloaded snapshot, so an `hf:ORG/NAME` study resolves offline and nothing is
downloaded.

    CACHE/models--ORG--NAME/blobs/<sha256 of the file>        the files' bytes, once each
    CACHE/models--ORG--NAME/snapshots/<commit>/<file>         -> ../../blobs/<sha256>
    CACHE/models--ORG--NAME/refs/<branch>                     the commit the branch points to
"""

import hashlib
import json
import os
from pathlib import Path

import torch

TINY_VIT = {  # 32 px RGB, patch 4: an 8 x 8 grid of position embeddings
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "image_size": 32,
    "patch_size": 4,
    "num_channels": 3,
    "num_labels": 10,
}
# an image processor as the hub ships one: ImageNet's mean and std, the model's 32 px
PROCESSOR = {
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "image_processor_type": "ViTImageProcessor",
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 32, "width": 32},
}


def commit_of(text: str) -> str:
    """A 40-hex-digit commit id (the hub's are git SHA-1s)."""
    return hashlib.sha1(text.encode()).hexdigest()


def save_tiny_model(folder: Path, config: dict | None = None, seed: int = 0) -> Path:
    """A tiny image classifier saved by save_pretrained (safetensors), with the processor."""
    import transformers

    torch.manual_seed(seed)
    model_config = transformers.ViTConfig(**(config or TINY_VIT))
    model = transformers.AutoModelForImageClassification.from_config(model_config)
    model.save_pretrained(folder)
    (Path(folder) / "preprocessor_config.json").write_text(json.dumps(PROCESSOR))
    return Path(folder)


def cache_snapshot(cache: Path, repo_id: str, folder: Path, commit: str, branch="main") -> Path:
    """The files of `folder` as the snapshot `commit` of `repo_id` in the hub cache `cache`,
    with refs/`branch` pointing at it; returns the snapshot folder."""
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    blobs, snapshot = repo / "blobs", repo / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for file in sorted(Path(folder).iterdir()):
        data = file.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        if not blob.exists():
            blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


def offline_cache(monkeypatch, cache: Path) -> None:
    """Point the hub settings at `cache`, offline: nothing can be downloaded."""
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
