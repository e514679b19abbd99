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
        keys = [k for k in own if k.startswith(name + ".")]
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
