"""The epoch loop, once for every net: `fit` runs the schedule, the batches, divergence,
evaluation after each period and the checkpoints, for one net (LoneNet, via `train`) or K stacked
nets (fused.StackedNets), which differ only in their step, evaluation and state. Works on
in-memory tensors (images.py); knows nothing of files or studies.
"""

from __future__ import annotations

import ctypes
import math
import sys
from collections.abc import Callable

import torch
import torch.nn.functional as F

from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.treatments import trainable_parameters
from featuretransfer.run.images import Images, augmenter, autocast, evaluate
from featuretransfer.run.interrupt import Interrupted, stop_requested
from featuretransfer.run.schedule import BatchOrder, lr_at, make_optimizer, period_steps, set_lr
from featuretransfer.specs import TrainSpec

Progress = Callable[[int, int, dict], None]  # (steps done, steps in all, latest metrics)


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed blocks up to 32 MiB for reuse rather than hand them back to
    the system: a step frees and re-allocates its activations (several MB each), and each fresh
    mapping costs page faults, ~1,000 per step of the half-width net at batch 128, 1.10x on a
    step (2 cores). Larger blocks (evaluation batches) are still mapped and returned; the heap
    stays at its peak size (tens of MB). A no-op off glibc."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
        libc.mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's maximum on 64-bit, in bytes
        libc.mallopt(m_trim_threshold, 2**30)  # free heap top kept, in bytes
    except (OSError, AttributeError):  # musl or another libc: keep its defaults
        pass


def cuda_rng(device: str) -> dict:
    """The GPU's random state (dropout on a GPU draws from it), for a checkpoint."""
    if torch.device(device).type != "cuda":
        return {}
    return {"cuda_rng": torch.cuda.get_rng_state(device)}


class LoneNet:
    """One net as the epoch loop (`fit`) trains it: its step, evaluation and checkpoint state.
    `start` > 0: the data are the cached output of its frozen layers 1..start."""

    k = 1

    def __init__(self, model: LayeredNet, spec: TrainSpec, device: str, start: int = 0):
        self.model, self.spec, self.device, self.start = model, spec, device, start
        self.optimizer = make_optimizer(trainable_parameters(model), spec)

    def train_mode(self) -> None:
        self.model.train()

    def step(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """One SGD step on the net's batch; its loss (detached), as a tensor of one."""
        ((x, y),) = batches
        with autocast(self.device, self.spec.precision):
            loss = F.cross_entropy(self.model(x, start=self.start), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach().reshape(1)

    def evaluate(self, data: Images) -> list[float]:
        return [evaluate(self.model, data, self.device, self.start, self.spec.precision)]

    def state(self, i: int) -> dict:
        """What a checkpoint keeps of the net beyond the loop's own state: weights, momentum
        and the dropout stream (torch's global one on the CPU; the GPU's)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            **cuda_rng(self.device),
        }

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.device(self.device).type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)  # dropout on the GPU

    def sync(self, alive: list[int]) -> None:
        """The net trains in place: nothing to write back."""


def train(
    model: LayeredNet,
    train_data: Images,
    val_data: Images,
    spec: TrainSpec,
    seed: int,
    device: str = "cpu",
    progress: Progress | None = None,
    resume: dict | None = None,
    save_state: Callable[[dict], None] | None = None,
    start: int = 0,
) -> tuple[list[dict], bool]:
    """Train one net in place; return (one record per epoch, diverged).

    `save_state` gets, after every epoch, everything needed to go on exactly where training
    stopped (weights, momentum, both random streams, history); `resume` is such a state. A
    non-finite loss stops training at once (diverged = True); the records so far are kept.
    With `start` > 0 the data are the cached output of frozen layers 1..start. The loop itself
    is `fit`'s, which fused.py's stacked nets share.
    """
    lone = LoneNet(model, spec, device, start)

    def forward(step: int, total: int, metrics: list[dict | None]) -> None:
        progress(step, total, (metrics[0] if metrics else None) or {})

    def save(i: int, state: dict) -> None:
        save_state(state)

    ((history, diverged),) = fit(
        lone,
        train_data,
        val_data,
        spec,
        [seed],
        device,
        forward if progress else None,
        save if save_state else None,
        resume,
    )
    return history, diverged


def fit(
    nets,
    train_data: Images,
    val_data: Images,
    spec: TrainSpec,
    seeds: list[int],
    device: str = "cpu",
    progress: Callable[[int, int, list[dict | None]], None] | None = None,
    save_state: Callable[[int, dict], None] | None = None,
    resume: dict | None = None,
) -> list[tuple[list[dict], bool]]:
    """The epoch loop, written once: the schedule, the batches, divergence, evaluation and the
    checkpoints of `nets` (LoneNet, or fused.StackedNets: K nets in one pass, which differ only
    in their step). Net i draws its data order and augmentation from seeds[i]; returns each
    net's (history, diverged).

    After every period each live net's `save_state(i, state)` gets what a lone run needs to go
    on exactly (weights, momentum, random streams, batch order, history); `resume` (one net
    only) is such a state. A net whose loss turns non-finite keeps its history and the weights
    of that period and is not trained on (a lone net stops at once). Once a stop is asked
    (interrupt.py), every live net saves its state before the next step, with the period's
    batch order, the step and its loss sum so far (`mid_epoch`), and Interrupted is raised;
    resuming from that state gives exactly what an undisturbed run gives.
    """
    keep_freed_memory()
    k, n = nets.k, len(train_data.y)
    orders = [torch.Generator().manual_seed(s) for s in seeds]
    augments = [augmenter(spec, s) for s in seeds]
    histories: list[list[dict]] = [[] for _ in range(k)]
    if resume is not None:  # a lone net's checkpoint
        nets.restore(resume)
        orders[0].set_state(resume["order_rng"])
        if "augment_rng" in resume:  # absent in checkpoints of studies without augmentation
            augments[0][1].set_state(resume["augment_rng"])
        histories[0] = list(resume["history"])
    partial = resume if resume is not None and "epoch_step" in resume else None
    orders_of = [BatchOrder(n, spec.batch_size, o, (resume or {}).get("batches")) for o in orders]
    steps = period_steps(n, spec)
    total = sum(steps)
    diverged = [False] * k

    def state(i: int) -> dict:
        return nets.state(i) | {
            "order_rng": orders[i].get_state(),
            "augment_rng": augments[i][1].get_state(),
            "batches": orders_of[i].state(),
            "history": histories[i],
        }

    if progress:  # the bar's real total from the start, not once the first step is done
        first = partial["epoch_step"] if partial else 0
        progress(sum(steps[: len(histories[0])]) + first, total, [])
    for epoch in range(len(histories[0]), spec.epochs):
        nets.train_mode()
        if partial is not None:  # resumed inside this period: its steps and loss sum so far
            first, seen = partial["epoch_step"], partial["epoch_seen"]
            loss_sums = partial["epoch_loss_sum"].to(device).reshape(k)
            partial = None
        else:
            first, seen = 0, 0  # images per net this period: n per pass
            loss_sums = torch.zeros(k, device=device)  # on-device; one sync per period
        done = sum(steps[:epoch])
        for step in range(first, steps[epoch]):
            alive = [i for i in range(k) if not diverged[i]]
            if stop_requested():
                nets.sync(alive)
                for i in alive if save_state else ():
                    save_state(i, state(i) | mid_epoch(step, loss_sums[i], seen))
                raise Interrupted(f"stopped before step {step + 1} of epoch {epoch + 1}")
            set_lr(nets.optimizer, lr_at(done + step, steps, spec))
            batches = [
                train_data.batch(order.next(), device, transform)
                for order, (transform, _) in zip(orders_of, augments)
            ]
            loss_sums += nets.step(batches) * len(batches[0][1])
            seen += len(batches[0][1])
            if progress and step % 20 == 0:
                progress(done + step, total, [])
        train_losses = (loss_sums / max(seen, 1)).tolist()
        val_accs = nets.evaluate(val_data)
        alive = [i for i in range(k) if not diverged[i]]
        for i in alive:
            if not math.isfinite(train_losses[i]):
                diverged[i] = True
                continue
            histories[i].append(
                {
                    "epoch": epoch + 1,
                    "lr": lr_at(done, steps, spec),  # at the period's first step
                    "train_loss": train_losses[i],
                    "val_acc": val_accs[i],
                }
            )
        alive = [i for i in alive if not diverged[i]]
        nets.sync(alive)  # a net that diverged keeps the weights of its last good period
        if save_state and epoch + 1 < spec.epochs:
            for i in alive:
                save_state(i, state(i))
        if progress:
            latest = [h[-1] if h and h[-1]["epoch"] == epoch + 1 else None for h in histories]
            progress(done + steps[epoch], total, latest)
        if all(diverged) or (k == 1 and diverged[0]):
            break
    return list(zip(histories, diverged))


def mid_epoch(step: int, loss_sum: torch.Tensor, seen: int) -> dict:
    """What a checkpoint taken inside a period adds to a net's state, whose batch order already
    holds the permutation and the place in it: the steps done, the images seen and the loss
    summed over them (in the sum's own float, so the period's train_loss comes out bit for
    bit)."""
    return {"epoch_step": step, "epoch_loss_sum": loss_sum.detach().cpu(), "epoch_seen": seen}


def best_k_mean(values: list[float], k: int) -> float:
    """The original study's score: the mean of the k best evaluations."""
    best = sorted(values, reverse=True)[:k]
    return sum(best) / len(best) if best else float("nan")
