"""Training and evaluation of one net on in-memory tensors; knows nothing of files or studies.

SGD with momentum and weight decay and a step schedule, the same for every treatment (the original
study fine-tuned with the base learning rate). Batches are drawn by indexing uint8 tensors.
"""

from __future__ import annotations

import ctypes
import dataclasses
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from featuretransfer.data.augment import augment, center_crop
from featuretransfer.nets.layered import LayeredNet
from featuretransfer.nets.treatments import trainable_parameters
from featuretransfer.run.interrupt import Interrupted, stop_requested
from featuretransfer.specs import TrainSpec, seed_hash

EVAL_BATCH = 2048  # images per forward pass at evaluation; no autograd there, so memory is small

Progress = Callable[[int, int, dict], None]  # (steps done, steps in all, latest metrics)


@dataclass(frozen=True)
class Images:
    """Inputs of a net and int64 labels: uint8 images [N, C, H, W], scaled per batch by mean and
    std (uint8 units), or float features of a frozen prefix, used as they are. With `crop`,
    evaluation sees the centre crop x crop window; training draws its own (`augmenter`)."""

    x: torch.Tensor
    y: torch.Tensor
    mean: float = 0.0
    std: float = 1.0
    crop: int = 0

    def batch(
        self, idx: torch.Tensor, device: str, transform: Callable | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images idx on `device`: `transform`ed (a training augmentation) or centre-cropped."""
        x = self.x[idx.to(self.x.device)].to(device, non_blocking=True)
        if transform is not None:
            x = transform(x)
        elif self.crop:
            x = center_crop(x, self.crop)
        if x.dtype == torch.uint8:
            x = (x.float() - self.mean) / self.std
        return x, self.y[idx.to(self.y.device)].to(device, non_blocking=True)

    def to(self, device: str) -> Images:
        """The same images kept on `device` (a GPU: no host-to-device copy per batch)."""
        return dataclasses.replace(self, x=self.x.to(device), y=self.y.to(device))


def batches(n: int, size: int = EVAL_BATCH):
    for start in range(0, n, size):
        yield torch.arange(start, min(start + size, n))


def autocast(device: str, precision: str):
    """bfloat16 autocast for precision "bf16" (matmuls and convolutions in bf16, reductions and
    the loss in fp32), else a no-op."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def evaluate(
    model: LayeredNet, data: Images, device: str, start: int = 0, precision: str = "fp32"
) -> float:
    """Top-1 accuracy on `data` (the output of layer `start`), in eval mode, in large batches."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)  # one sync at the end
    with torch.inference_mode(), autocast(device, precision):
        for idx in batches(len(data.y)):
            x, y = data.batch(idx, device)
            correct += (model(x, start=start).argmax(1) == y).sum()
    model.train(was_training)
    return correct.item() / len(data.y)


def prefix_features(
    model: LayeredNet, data: Images, cut: int, device: str, precision: str = "fp32"
) -> Images:
    """The output of layers 1..cut for every image, computed once (eval mode, no autograd),
    under the autocast the training uses, so a cached prefix computes what an uncached one does.

    Only valid where those layers are frozen and deterministic in training mode (no dropout):
    then training on these features gives the same net as training on the images.
    """
    was_training = model.training
    model.eval()
    # not inference_mode: training reads these tensors under autograd
    with torch.no_grad(), autocast(device, precision):
        parts = [model(data.batch(idx, device)[0], stop=cut) for idx in batches(len(data.y))]
    model.train(was_training)
    # in the net's layout: NCHW features made a step at n = 1..4 1.02-1.12x slower (2 cores)
    layout = model.memory_format if parts[0].dim() == 4 else torch.contiguous_format
    return Images(torch.cat(parts).contiguous(memory_format=layout), data.y.to(device))


def lr_at(step: int, steps: list[int], spec: TrainSpec) -> float:
    """The learning rate of SGD step `step` (from 0) of a run whose periods (epochs) take
    `steps` steps each. "step": lr times gamma for every milestone epoch already passed (the
    same within an epoch); "cosine": linear warm-up to lr over the first `warmup_epochs`
    periods, then half a cosine down to 0 at the end (Loshchilov & Hutter 2017)."""
    if spec.schedule == "step":
        epoch, first = 0, steps[0] if steps else 0
        while epoch + 1 < len(steps) and step >= first:
            epoch, first = epoch + 1, first + steps[epoch + 1]
        return spec.lr * spec.lr_gamma ** sum(epoch >= m for m in spec.lr_milestones)
    warm, total = sum(steps[: spec.warmup_epochs]), sum(steps)
    if step < warm:
        return spec.lr * (step + 1) / warm
    return spec.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def param_groups(params: dict[str, torch.nn.Parameter], spec: TrainSpec) -> list[dict]:
    """SGD groups: weights, and biases with their own lr multiple and decay (Caffe's original
    gave biases 2x the lr and no decay). One group where biases are treated like weights."""
    if spec.bias_lr_mult == 1.0 and spec.bias_decay:
        return [{"params": list(params.values()), "lr_mult": 1.0}]
    biases = [p for name, p in params.items() if name.endswith("bias")]
    weights = [p for name, p in params.items() if not name.endswith("bias")]
    return [
        {"params": weights, "lr_mult": 1.0},
        {
            "params": biases,
            "lr_mult": spec.bias_lr_mult,
            "weight_decay": spec.weight_decay if spec.bias_decay else 0.0,
        },
    ]


def make_optimizer(params: dict[str, torch.nn.Parameter], spec: TrainSpec) -> torch.optim.SGD:
    """SGD with the fused kernel where torch has one for the device: one pass over each
    parameter (~90 us a step for the half-width net on 2 cores, against ~350 us for the
    per-parameter loop; 1.07x on a step that trains only fc6..fc8)."""
    groups = param_groups(params, spec)
    hyper = {"lr": spec.lr, "momentum": spec.momentum, "weight_decay": spec.weight_decay}
    try:
        return torch.optim.SGD(groups, fused=True, **hyper)
    except RuntimeError:  # no fused SGD for this device in this torch (CPU before 2.4 or so)
        return torch.optim.SGD(param_groups(params, spec), **hyper)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group["lr_mult"]


def augmenter(spec: TrainSpec, seed: int) -> tuple[Callable | None, torch.Generator]:
    """The training transform of `spec` (random crop and/or mirror; None without augmentation)
    and its random stream, seeded from the data-order seed."""
    rng = torch.Generator().manual_seed(seed_hash(seed, "augment"))
    if not spec.augments:
        return None, rng

    def transform(x: torch.Tensor) -> torch.Tensor:
        crop = spec.crop or min(x.shape[-2:])
        return augment(x, crop, spec.crop_pad, rng, spec.mirror)

    return transform, rng


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


class BatchOrder:
    """Batches of image indices in a seeded random order: a fresh permutation of the n images
    whenever the last is used up. With `train.epochs` a period is one permutation (the last
    batch may be short); with `train.steps`, periods take their share of the steps across
    permutations, so a small data set is passed many times, as the original's fixed-iteration
    solvers did. `state` is what a checkpoint keeps to go on with the same batches."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, state: dict | None):
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.perm, self.pos = (state["perm"], state["pos"]) if state else (None, n)

    def next(self) -> torch.Tensor:
        if self.pos >= self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.generator), 0
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state(self) -> dict:
        return {"perm": self.perm, "pos": self.pos}


def period_steps(n: int, spec: TrainSpec) -> list[int]:
    """SGD steps in each of the `epochs` periods: a pass over the n images each, or
    `train.steps` spread evenly over them."""
    if spec.steps == 0:
        return [math.ceil(n / spec.batch_size)] * spec.epochs
    return [
        (p + 1) * spec.steps // spec.epochs - p * spec.steps // spec.epochs
        for p in range(spec.epochs)
    ]


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
    """Train in place; return (one record per epoch, diverged).

    `save_state` gets, after every epoch, everything needed to go on exactly where training
    stopped (weights, momentum, both random streams, history); `resume` is such a state. A
    non-finite loss stops training at once (diverged = True); the records so far are kept.
    With `start` > 0 the data are the cached output of frozen layers 1..start.

    Once a stop is asked (interrupt.py), training saves its state before the next step, with
    the epoch's data order, the step and the loss sum so far (`mid_epoch`), and raises
    Interrupted; resuming from that state gives exactly what an undisturbed run gives.
    """
    keep_freed_memory()
    optimizer = make_optimizer(trainable_parameters(model), spec)
    order = torch.Generator().manual_seed(seed)
    transform, augment_rng = augmenter(spec, seed)
    history: list[dict] = []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        order.set_state(resume["order_rng"])
        torch.set_rng_state(resume["torch_rng"])
        if "cuda_rng" in resume and torch.device(device).type == "cuda":
            torch.cuda.set_rng_state(resume["cuda_rng"], device)  # dropout draws on the GPU
        if "augment_rng" in resume:  # absent in checkpoints of studies without augmentation
            augment_rng.set_state(resume["augment_rng"])
        history = list(resume["history"])
    partial = resume if resume is not None and "epoch_step" in resume else None
    n = len(train_data.y)
    batches = BatchOrder(n, spec.batch_size, order, (resume or {}).get("batches"))
    steps = period_steps(n, spec)
    total = sum(steps)

    def state() -> dict:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "order_rng": order.get_state(),
            "torch_rng": torch.get_rng_state(),
            "augment_rng": augment_rng.get_state(),
            **cuda_rng(device),
            "batches": batches.state(),
            "history": history,
        }

    if progress:  # the bar's real total from the start, not once the first step is done
        first = partial["epoch_step"] if partial else 0
        progress(sum(steps[: len(history)]) + first, total, {})
    for epoch in range(len(history), spec.epochs):
        model.train()
        if partial is not None:  # resumed inside this period: its steps and loss sum so far
            first, seen = partial["epoch_step"], partial["epoch_seen"]
            loss_sum = partial["epoch_loss_sum"].to(device)
            partial = None
        else:
            first, seen = 0, 0  # images this period: n per pass
            loss_sum = torch.zeros((), device=device)  # on-device; one sync per period
        done = sum(steps[:epoch])
        for step in range(first, steps[epoch]):
            if stop_requested():
                if save_state:
                    save_state(state() | mid_epoch(step, loss_sum, seen))
                raise Interrupted(f"stopped before step {step + 1} of epoch {epoch + 1}")
            set_lr(optimizer, lr_at(done + step, steps, spec))
            idx = batches.next()
            x, y = train_data.batch(idx, device, transform)
            with autocast(device, spec.precision):
                loss = F.cross_entropy(model(x, start=start), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            seen += len(y)
            if progress and step % 20 == 0:
                progress(done + step, total, {})
        train_loss = loss_sum.item() / max(seen, 1)
        if not math.isfinite(train_loss):
            return history, True
        val_acc = evaluate(model, val_data, device, start, spec.precision)
        history.append(
            {
                "epoch": epoch + 1,
                "lr": lr_at(done, steps, spec),  # at the period's first step
                "train_loss": train_loss,
                "val_acc": val_acc,
            }
        )
        if save_state and epoch + 1 < spec.epochs:
            save_state(state())
        if progress:
            progress(done + steps[epoch], total, history[-1])
    return history, False


def mid_epoch(step: int, loss_sum: torch.Tensor, seen: int) -> dict:
    """What a checkpoint taken inside a period adds to state(), whose batch order already holds
    the permutation and the place in it: the steps done, the images seen and the loss summed
    over them (in the sum's own float, so the period's train_loss comes out bit for bit)."""
    return {"epoch_step": step, "epoch_loss_sum": loss_sum.detach().cpu(), "epoch_seen": seen}


def best_k_mean(values: list[float], k: int) -> float:
    """The original study's score: the mean of the k best evaluations."""
    best = sorted(values, reverse=True)[:k]
    return sum(best) / len(best) if best else float("nan")
