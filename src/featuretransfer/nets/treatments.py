"""The paper's treatments on a layered net: copy the first n layers, freeze them, or neither.

base: all layers new. BnB / AnB: layers 1..n copied from baseB / baseA, frozen; BnB+ / AnB+: the
same, fine-tuned. Random control: layers 1..n left at their random initialisation and frozen.
Every layer above n is freshly initialised in all treatments.
"""

from __future__ import annotations

import torch

from featuretransfer.nets.layered import LayeredNet


class TreatmentError(ValueError):
    """A treatment that cannot be built: bad cut, or a parent of another architecture."""


def check_cut(model: LayeredNet, n: int) -> None:
    if not 1 <= n <= model.n_layers - 1:
        raise TreatmentError(
            f"cut n = {n} is outside 1..{model.n_layers - 1} for a {model.n_layers}-layer net"
        )


def copy_layers(parent_state: dict[str, torch.Tensor], model: LayeredNet, n: int) -> None:
    """Copy every tensor of layers 1..n from a parent's state_dict, checking names and shapes."""
    check_cut(model, n)
    own = model.state_dict()
    for name in model.layer_names[:n]:
        keys = model.layer_keys(name)
        for key in keys:
            if key not in parent_state:
                raise TreatmentError(f"parent has no {key}: it is another architecture")
            if parent_state[key].shape != own[key].shape:
                raise TreatmentError(
                    f"parent's {key} has shape {tuple(parent_state[key].shape)}, this net's "
                    f"{tuple(own[key].shape)}: the parent is another architecture or width"
                )
        with torch.no_grad():
            for key in keys:
                own[key].copy_(parent_state[key])


def check_source(state: dict[str, torch.Tensor], model: LayeredNet) -> None:
    """A pretrained checkpoint must hold every tensor of layers 1..L-1 with this net's shapes,
    and nothing this net lacks; the last layer (the head, of another class count perhaps) lies
    above every cut and is never copied. The error names the first few bad keys."""
    own = model.state_dict()
    below = [k for name in model.layer_names[:-1] for k in model.layer_keys(name)]
    missing = [k for k in below if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in below
        if k in state and state[k].shape != own[k].shape
    ]
    problems = [
        f"{what}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
        for what, keys in (
            ("missing", missing),
            ("not in the model", unexpected),
            ("other shapes (checkpoint vs model)", shapes),
        )
        if keys
    ]
    if problems:
        raise TreatmentError(
            "source.checkpoint does not match the study's model; " + "; ".join(problems)
        )


def freeze(model: LayeredNet, n: int) -> None:
    """No gradient for layers 1..n; their norm layers stay in eval mode (LayeredNet.train)."""
    check_cut(model, n)
    for i in range(1, n + 1):
        model.layer(i).requires_grad_(False)
    model.n_frozen = n
    model.train(model.training)


def trainable_parameters(model: LayeredNet) -> dict[str, torch.nn.Parameter]:
    """What the optimiser may hold (nanoGPT's configure_optimizers): frozen layers are left out,
    so they get neither gradient steps nor weight decay."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
