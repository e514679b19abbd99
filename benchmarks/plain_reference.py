"""The plain PyTorch reference: the loop a user would write for the same jobs, no tool tricks.

Same net shapes and parameter names as featuretransfer's ConvNet8 (so the same initial weights),
but written the straightforward way: nn.LocalResponseNorm, ReLU then pool, NCHW, one process with
torch's default threads, every layer run at every step (frozen layers only skip their backward,
through requires_grad=False), evaluation each epoch under no_grad.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from featuretransfer.nets.registry import build_model
from featuretransfer.run.job import target_data
from featuretransfer.run.schedule import lr_at
from featuretransfer.specs import JobSpec, seed_hash


class PlainConvNet8(nn.Module):
    def __init__(self, reference: nn.Module, dropout: float):
        super().__init__()
        for name in reference.layer_names:  # the same layers, so the same parameter names
            setattr(self, name, getattr(reference, name))
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = self.lrn(self.pool(F.relu(self.conv1(x))))
        x = self.lrn(self.pool(F.relu(self.conv2(x))))
        x = F.relu(self.conv4(F.relu(self.conv3(x))))
        x = self.pool(F.relu(self.conv5(x))).flatten(1)
        x = self.dropout(F.relu(self.fc6(x)))
        x = self.dropout(F.relu(self.fc7(x)))
        return self.fc8(x)


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(
            (model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
            for i in range(0, len(y), 1000)
        )
    model.train()
    return correct / len(y)


def train_plain(job: JobSpec, parents: dict[str, dict]) -> dict:
    """Train one job the plain way; `parents` maps job id to the base nets' final state_dicts."""
    started = time.perf_counter()
    train_data, val_data, test_data, classes = target_data(job)
    scale = lambda d: ((d.x.float() - d.mean) / d.std, d.y)  # noqa: E731
    (x, y), (vx, vy), (tx, ty) = scale(train_data), scale(val_data), scale(test_data)
    reference = build_model(job.net, len(classes), seed_hash(job.id, "init"))
    model = PlainConvNet8(reference, job.net.dropout)
    n = job.n_copied
    parent = job.parent()
    if parent is not None:
        model.load_state_dict(
            {
                k: v
                for k, v in parents[parent.id].items()
                if k.split(".")[0] in reference.layer_names[:n]
            },
            strict=False,
        )
    if n and not job.fine_tune:
        for name in reference.layer_names[:n]:
            getattr(model, name).requires_grad_(False)
    spec = job.train
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=spec.lr,
        momentum=spec.momentum,
        weight_decay=spec.weight_decay,
    )
    torch.manual_seed(seed_hash(job.id, "init"))
    order = torch.Generator().manual_seed(seed_hash(job.id, "order"))
    model.train()
    per_epoch = math.ceil(len(y) / spec.batch_size)
    for epoch in range(spec.epochs):
        perm = torch.randperm(len(y), generator=order)
        for step in range(per_epoch):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * per_epoch + step, [per_epoch] * spec.epochs, spec)
            idx = perm[step * spec.batch_size : (step + 1) * spec.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        accuracy(model, vx, vy)  # evaluated every epoch, as the tool does
    return {
        "top1": accuracy(model, tx, ty),
        "seconds": time.perf_counter() - started,
        "state": model.state_dict(),
    }
