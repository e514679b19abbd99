"""Any PyTorch model as a layered net: named units in forward order, addressable by index 1..L.

A study names a factory, `[model] name = "my_pkg.nets:build"` (a module on the path) or
`name = "nets:build"` with `file = "nets.py"` beside the study, that returns an `nn.Module` for
`(n_classes, in_channels, image_size, **args)`, and `units = ["stem", "layer1", ..., "head"]`,
its transferable units as dotted submodule names in forward order ("a+b" joins several
submodules into one unit, e.g. a final norm and the classifier). `UnitNet` wraps the model in
the interface the treatments and the trainer use (nets/layered.py), so the rest of the code has
one interface:

- the units must hold every parameter exactly once (`check_units` names orphans and doubles);
- the state_dict is the model's own (no wrapper prefix), so a checkpoint of the model itself
  is a valid parent or source;
- frozen units keep their norm layers in eval mode: running statistics stay bit-identical;
- re-initialising a unit calls each submodule's own `reset_parameters` (a Hugging Face model's
  own `_init_weights`), seeded from the job;
- the model runs its own forward. Where it is an `nn.Sequential` whose children are the units
  (and parameter-free ops between them), the units compose the forward pass: `forward(x,
  start, stop)` runs any range of units and the frozen-prefix cache works as for the built-in
  nets; elsewhere only the whole forward exists and training is uncached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

from featuretransfer.nets.layered import LayeredNet

log = logging.getLogger(__name__)

HF_PREFIX = "hf:"
# Modules that draw random numbers in training mode besides dropout (stochastic depth and its
# kin): their output differs from step to step, so their units' output cannot be cached.
RANDOM_IN_TRAINING = ("Drop", "Stochastic", "Noise")


class ModelError(ValueError):
    """A user's model that cannot be built or used; the message names the study key."""


def is_user_model(name: str) -> bool:
    """A factory path ("module:factory") or a Hugging Face folder ("hf:FOLDER")."""
    return name.startswith(HF_PREFIX) or ":" in name


def is_norm(module: nn.Module) -> bool:
    """A layer whose training mode updates statistics (batch and instance norm)."""
    return isinstance(module, nn.modules.batchnorm._NormBase)


def random_in_training(module: nn.Module) -> bool:
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return module.p > 0
    return any(hint in type(module).__name__ for hint in RANDOM_IN_TRAINING)


class UnitNet(LayeredNet):
    """A model with named units as a LayeredNet (see the module docstring).

    `output` turns what the model returns into logits (a Hugging Face model's `.logits`);
    `reinit(module)` re-initialises one submodule in place (default: its reset_parameters).
    """

    def __init__(
        self,
        model: nn.Module,
        units: tuple[str, ...],
        where: str = "model",
        output: Callable | None = None,
        reinit: Callable[[nn.Module], bool] | None = None,
    ):
        super().__init__()
        self.model = model
        self.layer_names = tuple(units)
        self.where = where  # how errors name the model: the study key
        self._output = output
        self._reinit = reinit or reset_module
        self.parts = {
            unit: [_submodule(model, p, unit, where) for p in split(unit)] for unit in units
        }
        self.after = nn.ModuleDict()  # no parameter-free ops between units that we run ourselves
        self.segments = composed_segments(model, self.layer_names)

    @property
    def composes(self) -> bool:
        """Whether the units compose the forward pass (forward from and to any unit works)."""
        return self.segments is not None

    def layer(self, i: int) -> nn.Module:
        parts = self.parts[self.layer_names[i - 1]]
        return parts[0] if len(parts) == 1 else nn.ModuleList(parts)

    def layer_keys(self, name: str) -> list[str]:
        prefixes = tuple(p + "." for p in split(name))
        return [k for k in self.state_dict() if k.startswith(prefixes)]

    # The model's own keys, without this wrapper's "model." prefix.
    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        if start == 0 and stop in (None, self.n_layers):
            out = self.model(x)
            return self._output(out) if self._output else out
        if not self.composes:
            raise ModelError(
                f"{self.where}: its units do not compose the forward pass, so it cannot run "
                f"from unit {start} to {stop}"
            )
        for segment in self.segments[start:stop]:
            x = segment(x)
        return x

    @property
    def n_deterministic(self) -> int:
        """Leading units whose training-mode output is that of eval mode when frozen (0 where the
        units do not compose the forward pass: nothing to cache from)."""
        if not self.composes:
            return 0
        for i, segment in enumerate(self.segments):
            if any(random_in_training(m) for m in segment.modules()):
                return i
        return self.n_layers

    def train(self, mode: bool = True):
        # Frozen units keep their norm statistics, and nothing else: their dropout stays on in
        # training, as after the frozen fc6 of the built-in nets.
        nn.Module.train(self, mode)
        for i in range(1, self.n_frozen + 1):
            for module in self.layer(i).modules():
                if is_norm(module):
                    module.eval()
        return self

    def init_layer(self, name: str, generator: torch.Generator) -> None:
        """Re-initialise unit `name` with each submodule's own initialisation, seeded from
        `generator` (reset_parameters takes none, so it draws from a forked global stream)."""
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        kept, reset = [], False
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            for part, module in zip(split(name), self.parts[name]):
                for sub_name, sub in module.named_modules(prefix=part):
                    own = list(sub.named_parameters(recurse=False))
                    if self._reinit(sub):
                        reset = True
                    else:
                        kept += [f"{sub_name}.{p}" for p, _ in own]
        has_params = any(True for m in self.parts[name] for _ in m.parameters())
        if has_params and not reset:
            raise ModelError(
                f"{self.where}.units: unit {name!r} has parameters but no submodule with "
                "reset_parameters(), so it cannot be re-initialised; give its layers a "
                "reset_parameters method or make them torch.nn layers"
            )
        if kept:
            _log_once(
                f"{self.where}: unit {name!r}: {', '.join(kept[:4])} have no reset_parameters(); "
                "they keep the factory's initial values (drawn under the job's seed)"
            )


def split(unit: str) -> list[str]:
    return unit.split("+")


def reset_module(module: nn.Module) -> bool:
    """A submodule's own re-initialisation, if it has one."""
    reset = getattr(module, "reset_parameters", None)
    if callable(reset):
        reset()
        return True
    return False


def _submodule(model: nn.Module, name: str, unit: str, where: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        top = ", ".join(n for n, _ in model.named_children())
        raise ModelError(
            f"{where}.units: {unit!r} names no submodule ({name!r} is not one); "
            f"the model's top-level modules: {top}"
        ) from None


def composed_segments(model: nn.Module, units: tuple[str, ...]) -> list[nn.Module] | None:
    """Per unit, the unit and the parameter-free children that follow it, if `model` is an
    nn.Sequential whose children are the units in order; else None. Children before the first
    unit (a Flatten, say) run with it."""
    if not isinstance(model, nn.Sequential) or any("." in u or "+" in u for u in units):
        return None
    names = [n for n, _ in model.named_children()]
    if [n for n in names if n in units] != list(units):
        return None
    segments: list[list[nn.Module]] = []
    leading: list[nn.Module] = []  # parameter-free children before unit 1 run with it
    for name, child in model.named_children():
        if name in units:
            segments.append([*leading, child])
            leading = []
        elif any(True for _ in child.parameters()):
            return None  # a child with parameters outside every unit: check_units refuses it
        elif segments:
            segments[-1].append(child)
        else:
            leading.append(child)
    return [nn.Sequential(*s) for s in segments]


def check_units(model: nn.Module, units: tuple[str, ...], where: str) -> None:
    """Every parameter in exactly one unit; an error names the orphans and the doubles."""
    if not units:
        raise ModelError(f"{where}.units is missing: list the model's transferable units")
    if len(set(units)) != len(units):
        raise ModelError(f"{where}.units lists a unit twice")
    owners: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), name)
        owners.setdefault(id(p), [])
    for unit in units:
        for part in split(unit):
            module = _submodule(model, part, unit, where)
            for p in {id(p) for p in module.parameters()}:
                owners[p].append(unit)
    orphans = [names[p] for p, us in owners.items() if not us]
    doubles = [f"{names[p]} (in {' and '.join(us)})" for p, us in owners.items() if len(us) > 1]
    problems = []
    if orphans:
        problems.append(f"in no unit: {_first_names(orphans)}")
    if doubles:
        problems.append(f"in two units: {_first_names(doubles)}")
    if problems:
        raise ModelError(
            f"{where}.units must hold every parameter exactly once; " + "; ".join(problems)
        )
    if len(units) < 2:
        raise ModelError(f"{where}.units: a transfer needs at least 2 units, got {len(units)}")


def _first_names(items: list[str], k: int = 5) -> str:
    more = f" and {len(items) - k} more" if len(items) > k else ""
    return ", ".join(items[:k]) + more


_LOGGED: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        log.warning(message)


def wrap(
    model: nn.Module,
    units: tuple[str, ...],
    n_classes: int,
    in_channels: int,
    image_size: int,
    seed: int,
    output: Callable | None = None,
    reinit: Callable | None = None,
) -> UnitNet:
    """Check the units and the output shape, then initialise every unit from `seed`."""
    check_units(model, units, "model")
    net = UnitNet(model, units, "model", output, reinit)
    check_output(net, n_classes, in_channels, image_size)
    generator = torch.Generator().manual_seed(seed)
    for name in net.layer_names:
        net.init_layer(name, generator)
    if not net.composes:
        _log_once(
            "model: its units do not compose the forward pass (it is not an nn.Sequential of "
            "its units), so frozen units run at every step: training is uncached"
        )
    return net


def check_output(net: UnitNet, n_classes: int, in_channels: int, image_size: int) -> None:
    """One forward pass on two blank images: the output must be [2, n_classes]."""
    was_training = net.training
    net.eval()  # batch norm in training mode refuses a batch of one channel value
    try:
        with torch.no_grad():
            out = net(torch.zeros(2, in_channels, image_size, image_size))
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's forward
        raise ModelError(
            f"model: its forward pass failed on {in_channels}x{image_size}x{image_size} "
            f"images: {type(e).__name__}: {e}"
        ) from None
    finally:
        net.train(was_training)
    shape = tuple(getattr(out, "shape", ()))
    if shape != (2, n_classes):
        raise ModelError(
            f"model.name: the model's output has shape {shape} for 2 images, not (2, "
            f"{n_classes}): it must give one column per class (the factory's n_classes)"
        )
