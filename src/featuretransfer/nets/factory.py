"""A user's model by import path: the study file's [model] keys resolved, the factory loaded
and called.

    name = "my_pkg.nets:build"   a module on the path (installed, or on PYTHONPATH), or
    name = "nets:build"          with file = "nets.py": the module read from that file, which
    file = "nets.py"             is relative to the study file
    units = [...]                its transferable units (nets/units.py)
    args = { width = 16 }        the factory's keyword arguments

The factory's source file (the module's own file) is hashed into NetSpec.code_sha256, so an
edited model gets new job ids. `hf:FOLDER` models are resolved here too (nets/hf.py builds them).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from featuretransfer.nets.units import HF_PREFIX, ModelError, UnitNet, wrap
from featuretransfer.specs import NetSpec
from featuretransfer.store import file_sha256


def load_factory(name: str, path: str | None) -> Callable:
    """The callable `module:attr` of `name`, the module read from the file `path` if given."""
    module_name, _, attr = name.partition(":")
    try:
        if path:
            module = _module_from_file(Path(path))
        else:
            module = importlib.import_module(module_name)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's module: any error is theirs, said in one line
        where = f"model.file = {path!r}" if path else f"model.name = {name!r}"
        raise ModelError(f"{where}: importing it failed: {type(e).__name__}: {e}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        # the user's words: the file or module they named, never the name it is loaded under
        where = f"model.name = {name!r}: {path if path else f'module {module_name!r}'}"
        if hasattr(module, attr):
            raise ModelError(f"{where}: {attr!r} is a {type(factory).__name__}, not a callable")
        raise ModelError(f"{where} has no callable {attr!r}; {_callables(module)}")
    return factory


SHOWN_CALLABLES = 6  # names listed when the factory named is not there


def _callables(module) -> str:
    """The public functions and classes a module defines itself (not those it imports), as a
    few names for an error message."""
    names = sorted(
        key
        for key, value in vars(module).items()
        if callable(value)
        and not key.startswith("_")
        and getattr(value, "__module__", None) == module.__name__
    )
    if not names:
        return "it defines no public function or class"
    more = f" and {len(names) - SHOWN_CALLABLES} more" if len(names) > SHOWN_CALLABLES else ""
    return f"it defines {', '.join(names[:SHOWN_CALLABLES])}{more}"


def _module_from_file(path: Path):
    """The module of a model file, loaded once per content (an edited file loads anew)."""
    if not path.is_file():
        raise ModelError(f"model.file = {str(path)!r} does not exist")
    key = f"_featuretransfer_model_{path.stem}_{file_sha256(path)[:12]}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # before exec: dataclasses and pickling look modules up
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]


def module_file(name: str) -> Path | None:
    """The source file of the module of a factory on the path, for its content hash."""
    module_name = name.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ModelError(f"model.name = {name!r}: no module {module_name!r} on the path")
    return Path(spec.origin) if spec.origin and Path(spec.origin).is_file() else None


def build_factory_model(
    net: NetSpec, n_classes: int, seed: int, in_channels: int, image_size: int
) -> UnitNet:
    """The model of a factory path, built and every unit initialised from `seed`."""
    factory = load_factory(net.name, net.path)
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in net.args}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the factory's own init: its parameters without reset_parameters
        try:
            model = factory(n_classes, in_channels, image_size, **kwargs)
        except Exception as e:  # noqa: BLE001 - the user's factory: any error is theirs
            raise ModelError(
                f"model.name = {net.name!r}: the factory failed for n_classes={n_classes}, "
                f"in_channels={in_channels}, image_size={image_size}: {type(e).__name__}: {e}"
            ) from None
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"model.name = {net.name!r}: the factory returned a {type(model).__name__}, "
            "not a torch.nn.Module"
        )
    return wrap(model, net.units, n_classes, in_channels, image_size, seed)


# --- the study file's [model] keys of a user's model ----------------------------------------


def resolve_model(
    net: NetSpec, base: Path, file: str | None = None, units=None, args=None
) -> NetSpec:
    """`net` with its user-model fields filled in: the model file or folder resolved against the
    study file's folder `base`, its content hash, the units (found for an hf: model where not
    given) and the factory's arguments, sorted. Raises ModelError naming the key."""
    if units is not None and not (
        isinstance(units, list) and all(isinstance(u, str) and u for u in units)
    ):
        raise ModelError(f"model.units = {units!r} should be a list of submodule names")
    units = tuple(units or ())
    if args is not None and not isinstance(args, dict):
        raise ModelError("model.args should be a table of the factory's keyword arguments")
    pairs = []
    for key, value in sorted((args or {}).items()):
        if isinstance(value, dict):
            raise ModelError(f"model.args.{key}: give a number, string, boolean or list")
        pairs.append((key, tuple(value) if isinstance(value, list) else value))
    if net.name.startswith(HF_PREFIX):
        from featuretransfer.nets.hf import describe_hf  # transformers only for hf: models
        from featuretransfer.nets.hub import resolve_hf

        if file is not None or pairs:
            raise ModelError(
                "model.file and model.args are for a factory; hf: names a folder or a hub id"
            )
        # a folder beside the study file, else a hub id: its config.json, at a resolved commit
        folder, revision = resolve_hf(net.name[len(HF_PREFIX) :], base, "model.name")
        if not (folder / "config.json").is_file():
            raise ModelError(
                f"model.name = {net.name!r}: {folder} has no config.json (a folder written by "
                "save_pretrained)"
            )
        units = units or describe_hf(folder)
        sha = file_sha256(folder / "config.json")
        return dataclasses.replace(
            net, units=units, args=(), code_sha256=sha, path=str(folder), revision=revision
        )
    module_name, _, attr = net.name.partition(":")
    if not module_name or not attr.isidentifier():
        raise ModelError(
            f"model.name = {net.name!r}: give a built-in name, 'module:factory', 'hf:FOLDER' or "
            "'hf:ORG/NAME'"
        )
    if file is not None:
        if not isinstance(file, str):
            raise ModelError(f"model.file = {file!r} should be a path")
        path = (Path(base) / file).resolve()
        if not path.is_file():
            raise ModelError(f"model.file = {file!r}: {path} does not exist")
        source = path
    else:
        path, source = None, module_file(net.name)
    load_factory(net.name, str(path) if path else None)  # fail now: a missing factory or module
    if not units:
        raise ModelError(
            "model.units is missing: list the model's transferable units, dotted submodule "
            'names in forward order, e.g. units = ["stem", "layer1", "layer2", "head"]'
        )
    return dataclasses.replace(
        net,
        units=units,
        args=tuple(pairs),
        code_sha256=file_sha256(source) if source else "",
        path=str(path) if path else None,
    )
