"""Hugging Face hub models by id: `hf:ORG/NAME` or `hf:ORG/NAME@REVISION` (a branch, tag or
commit; default "main"), for `[model] name` and `[source] checkpoint`.

`resolve_hf` turns the part after `hf:` into a local folder and a revision: a folder beside the
study file where one exists (revision ""), else a hub id, fetched with huggingface_hub's
`snapshot_download` into the hub cache and resolved to the commit its revision names (the
snapshot folder HF_HUB_CACHE/models--ORG--NAME/snapshots/<commit>/, whose name is the commit;
offline, the cache's refs/<revision> names it). The commit enters the job ids (NetSpec.revision,
and a hub source's content hash), so a moved branch never reuses the nets of the old commit.

The usual settings apply, read when a study is loaded (not when huggingface_hub was imported,
so a notebook's `os.environ[...] = ...` counts): HF_HUB_CACHE (else HF_HOME/hub, else
~/.cache/huggingface/hub) is the cache; HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1) reads the
cache only and downloads nothing. A model downloads only its config.json (the architecture); a
source also its preprocessor_config.json and its safetensors weights. A hub model is data, never
code: weights are read from safetensors only (pickled .bin / .pt / .pth files only where the
study opts in, `[source] allow_pickle = true`), and a config that needs the repository's own
code (auto_map) is refused (nets/hf.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from featuretransfer.nets.units import ModelError

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # ORG/NAME, as the hub spells repositories
CONFIG_FILES = ["config.json", "preprocessor_config.json"]
SAFE_WEIGHTS = ["*.safetensors", "*.safetensors.index.json"]
PICKLED_WEIGHTS = ["*.bin", "*.bin.index.json", "*.pt", "*.pth"]
PICKLED_SUFFIXES = (".bin", ".pt", ".pth")
TRUE = ("1", "ON", "YES", "TRUE")  # what huggingface_hub reads as a true environment variable


def hub_cache() -> Path:
    """The hub cache as huggingface_hub finds it: HF_HUB_CACHE, else HF_HOME/hub, else
    XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub."""
    env = os.environ
    home = env.get("HF_HOME") or str(Path(env.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    cache = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or str(Path(home) / "hub")
    return Path(os.path.expandvars(cache)).expanduser()


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set: the cache only, nothing downloaded."""
    return any(
        os.environ.get(name, "").upper() in TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def split_revision(ref: str) -> tuple[str, str | None]:
    """'ORG/NAME@REV' -> ('ORG/NAME', 'REV'); without '@' the revision is None (main)."""
    repo_id, at, revision = ref.partition("@")
    return repo_id, (revision if at else None)


def is_hub_id(ref: str) -> bool:
    repo_id, revision = split_revision(ref)
    return bool(HUB_ID.fullmatch(repo_id)) and revision != ""


def snapshot_revision(folder: Path) -> str:
    """The commit of a hub cache snapshot folder (.../models--ORG--NAME/snapshots/<commit>),
    "" for any other folder."""
    folder = Path(folder)
    cache = folder.parent.parent.name.startswith("models--")
    return folder.name if cache and folder.parent.name == "snapshots" else ""


def resolve_hf(
    ref: str, base: Path, key: str, weights: bool = False, allow_pickle: bool = False
) -> tuple[Path, str]:
    """(folder, revision) of `hf:REF` named by the study key `key`: the folder base/REF where
    it exists (revision ""), else the hub snapshot of the hub id REF (revision: its commit),
    with its weights where `weights`. Raises ModelError in one line."""
    folder = (Path(base) / ref).expanduser()
    if folder.is_dir():
        return folder.resolve(), ""
    if not is_hub_id(ref):
        raise ModelError(
            f"{key} = 'hf:{ref}': no folder {folder} and not a hub id (ORG/NAME, or "
            "ORG/NAME@REVISION)"
        )
    patterns = CONFIG_FILES + (SAFE_WEIGHTS if weights else [])
    snapshot = _snapshot(ref, key, patterns)
    if weights and not _has(snapshot, (".safetensors",)):
        if not allow_pickle:
            raise ModelError(
                f"{key} = 'hf:{ref}' (commit {snapshot.name}) has no safetensors weights; "
                "pickled weights (.bin, .pt, .pth) can run code when read: set "
                "source.allow_pickle = true to read them anyway"
            )
        snapshot = _snapshot(ref, key, CONFIG_FILES + PICKLED_WEIGHTS)
        if not _has(snapshot, PICKLED_SUFFIXES):
            raise ModelError(f"{key} = 'hf:{ref}' (commit {snapshot.name}) has no weights")
    if not (snapshot / "config.json").is_file():
        raise ModelError(
            f"{key} = 'hf:{ref}' (commit {snapshot.name}) has no config.json: not a "
            "transformers model"
        )
    return snapshot, snapshot.name


def _has(folder: Path, suffixes: tuple[str, ...]) -> bool:
    return any(p.suffix in suffixes for p in folder.iterdir())


def _snapshot(ref: str, key: str, patterns: list[str]) -> Path:
    """The snapshot folder of hub id `ref` holding the files of `patterns` that it has."""
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:
        raise ModelError(
            f"{key} = 'hf:{ref}' needs huggingface_hub: pip install 'featuretransfer[hf]'"
        ) from None
    repo_id, revision = split_revision(ref)
    cache, offline = hub_cache(), hub_offline()
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id,
            revision=revision,
            allow_patterns=patterns,
            cache_dir=cache,
            local_files_only=offline,
        )
    except errors.RevisionNotFoundError:
        raise ModelError(f"{key} = 'hf:{ref}': the hub has no revision {revision!r}") from None
    except errors.RepositoryNotFoundError:
        raise ModelError(
            f"{key} = 'hf:{ref}': no such repository on the hub (a private or gated one needs "
            "`hf auth login`)"
        ) from None
    except errors.LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline else "the hub cannot be reached"
        raise ModelError(
            f"{key} = 'hf:{ref}': not in the hub cache {cache} and {why}; download it once "
            "with internet (or point HF_HUB_CACHE at a cache that holds it)"
        ) from None
    except Exception as e:  # noqa: BLE001 - the network and the hub raise many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelError(
            f"{key} = 'hf:{ref}': cannot get it from the hub ({type(e).__name__}: {first})"
        ) from None
    return Path(folder)
