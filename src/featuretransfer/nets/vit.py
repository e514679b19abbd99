"""A small Vision Transformer for 28x28 and 32x32 images, as a layered net: the patch embedding,
six pre-norm transformer blocks and the head are its units (L = 8, cuts n = 1..7, as the
reference net's), so the default study can ask the paper's question of a transformer.

    patch    conv stem: 3x3/2, 3x3/2 (BN, ReLU), 1x1 -> dim: a token per 4x4 pixels (7x7 at
             28 px, 8x8 at 32 px), plus learned positions
    block1..block6   x + attn(LN(x)); x + MLP(LN(x)) (GELU, hidden 2 x dim), dim / 16 heads
    after block6     mean over tokens, dropout (model.dropout)
    head     LN, linear to the classes

Width 1.0 gives dim 128; the fashion-mnist-vit preset uses 0.375 (dim 48, 3 heads, 0.13M
parameters, 12.2 MFLOP per 28x28 image forward, 1.3x the default net's 9.4). See docs/models.md
for how the size was chosen. The stem's batch norm keeps these nets out of --fuse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from featuretransfer.nets.layered import Dropout, LayeredNet

DEPTH = 6  # blocks; with the patch embedding and the head, 8 units like the reference net
PATCH = 4  # pixels per patch side
HEAD_DIM = 16  # channels per attention head
MLP_RATIO = 2  # hidden units of each block's MLP per channel
FULL_DIM = 128  # token width at model.width = 1.0
INIT_STD = 0.02  # truncated-normal std of every weight and the positions (ViT's own init)


class PatchEmbedding(nn.Module):
    """A convolutional stem (Xiao et al. 2021, "Early convolutions help transformers see
    better"): two 3x3 stride-2 convolutions with batch norm and ReLU, then a 1x1 to `dim`, one
    token per 4x4 pixels, plus its learned position. Measured here with SGD (the study's
    optimiser), 2 epochs on half B of Fashion-MNIST: 0.80 validation top-1 against 0.64 for a
    linear 4x4 patch embedding of the same width (lr 0.03 both; 0.78 vs 0.64 at lr 0.1)."""

    def __init__(self, c_in: int, dim: int, image_size: int):
        super().__init__()
        if image_size % PATCH:
            raise ValueError(f"vit: image side {image_size} is not a multiple of {PATCH} pixels")
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, dim // 2, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim // 2),
            nn.ReLU(),
            nn.Conv2d(dim // 2, dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim),
            nn.ReLU(),
            nn.Conv2d(dim, dim, 1),
        )
        self.position = nn.Parameter(torch.zeros(1, (image_size // PATCH) ** 2, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(2).transpose(1, 2) + self.position  # [B, tokens, dim]


class Block(nn.Module):
    """A pre-norm transformer block: multi-head self-attention, then the MLP, each residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.heads = max(1, dim // HEAD_DIM)
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, MLP_RATIO * dim)
        self.fc2 = nn.Linear(MLP_RATIO * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, heads, tokens, head dim]
        attended = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(attended.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class Head(nn.Module):
    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.norm(x))


class MeanTokens(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


class ViT(LayeredNet):
    """patch, block1..block6, head (see the module docstring)."""

    layer_names = ("patch", *(f"block{i}" for i in range(1, DEPTH + 1)), "head")
    has_batch_norm = True

    def __init__(
        self,
        n_classes: int,
        width: float = 0.5,
        dropout: float = 0.0,
        init: str = "kaiming",
        in_channels: int = 1,
        image_size: int = 28,
    ):
        super().__init__()
        if init != "kaiming":
            raise ValueError(f"model.init = {init!r}: vit has only its own init ('kaiming')")
        dim = max(HEAD_DIM, HEAD_DIM * round(FULL_DIM * width / HEAD_DIM))
        self.patch = PatchEmbedding(in_channels, dim, image_size)
        for name in self.layer_names[1:-1]:
            setattr(self, name, Block(dim))
        self.head = Head(dim, n_classes)
        identity = nn.Identity()
        self.after = nn.ModuleDict({name: identity for name in self.layer_names})
        self.after[self.layer_names[-2]] = nn.Sequential(MeanTokens(), Dropout(dropout))

    def init_layer(self, name: str, generator: torch.Generator) -> None:
        with torch.no_grad():
            for module in getattr(self, name).modules():
                if isinstance(module, (nn.Linear, nn.Conv2d)):
                    nn.init.trunc_normal_(module.weight, std=INIT_STD, generator=generator)
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
                elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
                    module.reset_parameters()  # weight 1, bias 0 (and fresh statistics)
                elif isinstance(module, PatchEmbedding):
                    nn.init.trunc_normal_(module.position, std=INIT_STD, generator=generator)
