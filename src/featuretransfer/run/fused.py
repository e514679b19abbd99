"""Several networks in one pass: nets that share an architecture, a target half and a schedule
train as one stacked model, each with its own initialisation, data order and dropout stream.

A small net (the default's 9 MFLOP per image) cannot fill a GPU; K of them stacked make each
kernel K times larger. Each weight layer runs under `torch.func.vmap` over the stacked weights
(convolutions become one grouped convolution, linear layers one batched matmul); the ops after
it (pooling, ReLU, LRN) run on the K batches as one; dropout draws each net's mask from that
net's own generator, in the order a lone run draws it. The loss is the sum of the K nets'
losses, so each net gets the gradient it would get alone, and SGD acts element-wise. Hence
`train_fused` gives, to float tolerance, what `train.train` gives each net alone (tested on CPU;
on a GPU a lone run's dropout uses another generator, so only the statistics agree).

Only nets that train every layer are fused (base nets and fine-tuned "+" treatments: two thirds
of a study's compute); frozen treatments run alone, on their cached prefix.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from featuretransfer.nets.layered import LayeredNet, dropout_mask
from featuretransfer.nets.treatments import trainable_parameters
from featuretransfer.run.images import Images, autocast, batches
from featuretransfer.run.schedule import make_optimizer
from featuretransfer.run.train import cuda_rng, fit
from featuretransfer.specs import TrainSpec

SaveState = Callable[[int, dict], None]  # (net index, a lone run's checkpoint state)


def fusable(model: LayeredNet) -> bool:
    """Every layer trains and nothing keeps running statistics (vmap cannot update them)."""
    has_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return model.n_frozen == 0 and not has_norm


class StackedNets:
    """K nets of one architecture as stacked parameters [K, ...] and a forward over [K, B, ...],
    trained by the same epoch loop as one net (train.fit; see train.LoneNet for the interface):
    only the step differs."""

    def __init__(
        self, models: list[LayeredNet], dropout_seeds: list[int], device: str, spec: TrainSpec
    ):
        self.models, self.spec, self.device = models, spec, device
        self.template, self.k = models[0], len(models)
        self.params = {
            name: torch.stack([dict(m.named_parameters())[name].detach() for m in models])
            .clone()
            .requires_grad_()
            for name, _ in self.template.named_parameters()
        }
        self.dropout_rngs = [torch.Generator(device).manual_seed(s) for s in dropout_seeds]
        self.layers = {name: vmap(self._layer_call(name)) for name in self.template.layer_names}
        self.first_shared = vmap(self._layer_call(self.template.layer_names[0]), (0, None))
        self.optimizer = make_optimizer(self.params, spec)

    def train_mode(self) -> None:
        """The stack has no modes: training is an argument of its forward."""

    def step(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One SGD step of every net on its own batch; each net's loss (detached). The loss is
        the sum of the K nets' losses, so each net gets the gradient it would get alone."""
        x, y = torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])
        with autocast(self.device, self.spec.precision):
            logits = self.forward(x, training=True)
            losses = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="none")
            losses = losses.view(self.k, -1).mean(1)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach()

    def evaluate(self, data: Images) -> list[float]:
        return evaluate_fused(self, data, self.device, self.spec.precision)

    def state(self, i: int) -> dict:
        """What a lone run of net i would checkpoint of its net (after `sync`): its weights, its
        slice of every momentum buffer, its dropout stream."""
        lone = _lone_state(self.models[i], self, self.optimizer, i, self.spec)
        return lone | _dropout_state(self.dropout_rngs[i], self.device)

    def restore(self, state: dict) -> None:
        raise ValueError("a stacked pass starts fresh; an interrupted net resumes alone")

    def sync(self, alive: list[int]) -> None:
        self.unstack_into({i: self.models[i] for i in alive})

    def _layer_call(self, name: str) -> Callable:
        module = getattr(self.template, name)
        return lambda params, x: functional_call(module, params, (x,))

    def layer_params(self, name: str) -> dict[str, torch.Tensor]:
        prefix = name + "."
        return {k[len(prefix) :]: v for k, v in self.params.items() if k.startswith(prefix)}

    def forward(self, x: torch.Tensor, training: bool, shared: bool = False) -> torch.Tensor:
        """Logits [K, B, classes] of x [K, B, ...] (each net its batch), or of x [B, ...]
        seen by every net (`shared`, for evaluation)."""
        for i, name in enumerate(self.template.layer_names):
            call = self.first_shared if shared and i == 0 else self.layers[name]
            x = self._after(name, call(self.layer_params(name), x), training)
        return x

    def _after(self, name: str, x: torch.Tensor, training: bool) -> torch.Tensor:
        after = self.template.after[name]
        for op in after if isinstance(after, nn.Sequential) else [after]:
            if isinstance(op, nn.Dropout):
                if training and op.p > 0:
                    x = x * self._dropout_masks(x, op.p)
            else:  # per-image ops: the K batches as one batch of K * B
                k, b = x.shape[:2]
                y = op(x.reshape(k * b, *x.shape[2:]))
                x = y.reshape(k, b, *y.shape[1:])
        return x

    def _dropout_masks(self, x: torch.Tensor, p: float) -> torch.Tensor:
        # exactly what a lone net's Dropout draws on a CPU, each net from its own stream
        return torch.stack(
            [dropout_mask(x.shape[1:], p, x.dtype, x.device, rng) for rng in self.dropout_rngs]
        )

    def unstack_into(self, models: dict[int, LayeredNet]) -> None:
        """Copy net i's slice of the stack into models[i]."""
        with torch.no_grad():
            for i, model in models.items():
                for name, p in model.named_parameters():
                    p.copy_(self.params[name][i])


def evaluate_fused(
    nets: StackedNets, data: Images, device: str, precision: str = "fp32"
) -> list[float]:
    """Top-1 of each net on the same images, in eval mode (no dropout), in large batches."""
    correct = torch.zeros(nets.k, dtype=torch.int64, device=device)
    with torch.inference_mode(), autocast(device, precision):
        for idx in batches(len(data.y), 1024):
            x, y = data.batch(idx, device)
            correct += (nets.forward(x, training=False, shared=True).argmax(2) == y).sum(1)
    return [c / len(data.y) for c in correct.tolist()]


def train_fused(
    models: list[LayeredNet],
    train_data: Images,
    val_data: Images,
    spec: TrainSpec,
    order_seeds: list[int],
    dropout_seeds: list[int],
    device: str = "cpu",
    progress: Callable[[int, int, list[dict | None]], None] | None = None,
    save_state: SaveState | None = None,
) -> list[tuple[list[dict], bool]]:
    """Train `models` in place as one pass; return each net's (history, diverged).

    Net i draws its data order from order_seeds[i] and its dropout from dropout_seeds[i], as
    `train.train(models[i], ..., seed=order_seeds[i])` does after torch.manual_seed of
    dropout_seeds[i]: the epoch loop is the same (`train.fit`), only the step is stacked. A net
    whose loss turns non-finite keeps its history up to there and the weights of that moment;
    the others go on. `save_state(i, state)` gets after every epoch what a lone run of net i
    would checkpoint, so an interrupted net resumes alone.
    """
    if not all(fusable(m) for m in models):
        raise ValueError("only nets that train every layer and keep no BN statistics fuse")
    nets = StackedNets(models, dropout_seeds, device, spec)
    return fit(nets, train_data, val_data, spec, order_seeds, device, progress, save_state)


def _dropout_state(rng: torch.Generator, device: str) -> dict:
    if torch.device(device).type == "cuda":
        return {"torch_rng": torch.get_rng_state(), "cuda_rng": rng.get_state()}
    return {"torch_rng": rng.get_state(), **cuda_rng(device)}


def _lone_state(model: LayeredNet, nets: StackedNets, optimizer, i: int, spec: TrainSpec) -> dict:
    """The optimiser state a lone run of net i would hold: its slice of every momentum buffer."""
    lone = make_optimizer(trainable_parameters(model), spec)
    stacked = nets.params
    by_param = {id(p): name for name, p in model.named_parameters()}
    for group, stacked_group in zip(lone.param_groups, optimizer.param_groups):
        group["lr"] = stacked_group["lr"]
        for p in group["params"]:
            buffer = optimizer.state.get(stacked[by_param[id(p)]], {}).get("momentum_buffer")
            if buffer is not None:
                lone.state[p]["momentum_buffer"] = buffer[i].clone()
    return {"model": model.state_dict(), "optimizer": lone.state_dict()}
