"""Training throughput of the exact CaffeNet (61.0M params, 227x227 crops) on one device.

    python benchmarks/caffenet_throughput.py [--device cuda] [--configs fp32-cl,bf16-cl]
        [--batch 256] [--iterations 300] [--warmup 20] [--tf32] [--compile] [--quick]

Trains CaffeNet(n_classes=1000) with SGD (lr 0.01, momentum 0.9, weight decay 5e-4) on random
uint8 images and labels already on the device, so no data loading is timed; the uint8 -> float
conversion is part of each step. Each configuration `{fp32|bf16}-{nchw|cl}[+compile]` starts from
the same weights: bf16 is torch.autocast(bfloat16) with fp32 weights, cl is channels-last,
+compile wraps the model in torch.compile (`--compile` adds bf16-cl+compile).

How to read it: `img/s` is batch * iterations / seconds after `--warmup` steps. `TFLOP/s` is the
step's FLOPs (forward conv and linear FLOPs counted from the layer shapes, times 3 for forward and
backward) per second. `% of matmul` compares that with a large square torch.matmul timed on the
same card in the configuration's dtype: how far the net's step is from the card's dense-math rate.
fp32 runs with TF32 off unless `--tf32`; both fp32 matmul rates are printed. The last line reads
`caffenet best: N img/s (config), P% of <dtype> matmul rate`.

Measured on one H200 (torch 2.11, batch 256, 300 steps): matmul bf16 789, fp32 51 (TF32 410)
TFLOP/s; fp32-nchw 7,046 img/s (60% of fp32), fp32-cl 7,944 (68%), bf16-cl 20,982 (12% of bf16),
bf16-cl+compile 26,679 (15%); fp32-cl with --tf32 16,681 (18% of the TF32 rate).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

try:
    from featuretransfer.nets.caffe import CaffeNet
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from featuretransfer.nets.caffe import CaffeNet

DTYPES = {"fp32": None, "bf16": torch.bfloat16}  # None: no autocast
LAYOUTS = {"nchw": torch.contiguous_format, "cl": torch.channels_last}
DEFAULT_CONFIGS = "fp32-nchw,fp32-cl,bf16-cl"
N_CLASSES, IMAGE_SIZE = 1000, 227
N_DATA_BATCHES = 2  # distinct device-resident batches, cycled; 40 MB each at batch 256


def set_tf32(allowed: bool) -> None:
    """TF32 for fp32 matmuls and cuDNN convolutions together; PyTorch's defaults differ
    (matmul off, cuDNN on), so an fp32 number means nothing unless both are set."""
    torch.set_float32_matmul_precision("high" if allowed else "highest")
    torch.backends.cudnn.allow_tf32 = allowed


def parse_config(config: str) -> tuple[torch.dtype | None, torch.memory_format, bool]:
    """`bf16-cl+compile` -> (autocast dtype or None, memory format, whether to torch.compile)."""
    dtype_name, _, rest = config.partition("-")
    layout_name, _, compiled = rest.partition("+")
    if dtype_name not in DTYPES or layout_name not in LAYOUTS or compiled not in ("", "compile"):
        raise ValueError(f"config {config!r}: use {{fp32|bf16}}-{{nchw|cl}}[+compile]")
    return DTYPES[dtype_name], LAYOUTS[layout_name], compiled == "compile"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def forward_flops(model: nn.Module) -> int:
    """Forward FLOPs of one image through the conv and linear layers (2 per multiply-add).
    Bias adds, pooling, ReLU and the LRN's internal 1x1 band convolution (~2.5%) are not counted:
    this is the model's dense math, the number matmul rates compare with."""
    flops = []

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels // module.groups * module.kernel_size[0]
            flops.append(2 * output.numel() * fan_in * module.kernel_size[1])
        else:
            flops.append(2 * output.numel() * module.in_features)

    hooks = [
        m.register_forward_hook(count) for m in model.modules() if type(m) in (nn.Conv2d, nn.Linear)
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    for hook in hooks:
        hook.remove()
    return sum(flops)


def matmul_tflops(n: int, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """TFLOP/s of an n x n x n torch.matmul (2 n^3 FLOPs) on random data after 3 warm-ups, from
    the fastest of `repeats` products: the card's ceiling, not disturbed by other processes."""
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    c = torch.empty_like(a)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    seconds = []
    for _ in range(repeats):  # a sync per product costs ~10 us against >= 1.4 ms at n = 8192
        synchronize(device)
        start = time.perf_counter()
        torch.matmul(a, b, out=c)
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return 2 * n**3 / min(seconds) / 1e12


def train_images_per_s(
    base: nn.Module, config: str, images: torch.Tensor, labels: torch.Tensor, args
) -> tuple[float, float]:
    """(images/s, last loss) of `args.iterations` timed SGD steps of a copy of `base`."""
    autocast_dtype, layout, compiled = parse_config(config)
    device = images.device
    model = copy.deepcopy(base).to(device, memory_format=layout).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    run = torch.compile(model) if compiled else model

    def step(i: int) -> torch.Tensor:
        # bytes 0..255 -> about [-2, 2]; the conversion keeps the requested layout
        x = images[i % len(images)].to(torch.float32, memory_format=layout).sub_(128).div_(64)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = F.cross_entropy(run(x), labels[i % len(labels)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    for i in range(args.warmup):  # cuDNN autotuning, allocator growth, torch.compile
        step(i)
    synchronize(device)
    start = time.perf_counter()
    for i in range(args.iterations):
        loss = step(i)
    synchronize(device)
    seconds = time.perf_counter() - start
    return args.batch * args.iterations / seconds, loss.item()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--iterations", type=int, help="timed steps (300 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (20 on GPU, 1 on CPU)")
    parser.add_argument("--batch", type=int, help="images per step (256)")
    parser.add_argument(
        "--configs", default=DEFAULT_CONFIGS, help="{fp32|bf16}-{nchw|cl}[+compile]"
    )
    parser.add_argument("--compile", action="store_true", help="also run bf16-cl+compile")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in fp32 matmul and conv")
    parser.add_argument("--quick", action="store_true", help="CPU smoke test: batch 4, 1 step")
    args = parser.parse_args(argv)
    gpu = args.device.startswith("cuda")
    # --quick only fills in what was not given: batch 4, 1 step, no warm-up, a 256 matmul
    defaults = (
        {"batch": 4, "iterations": 1, "warmup": 0}
        if args.quick
        else {"batch": 256, "iterations": 300 if gpu else 3, "warmup": 20 if gpu else 1}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.matmul_size = 256 if args.quick else 8192 if gpu else 2048  # 8192: 1.1 TFLOP per product
    args.configs = [c for c in args.configs.split(",") if c] + ["bf16-cl+compile"] * args.compile
    for config in args.configs:
        try:
            parse_config(config)
        except ValueError as error:
            parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    # one input shape throughout: let cuDNN time its conv algorithms once, in the warm-up
    torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {name}, torch {torch.__version__}, batch {args.batch}, "
        f"{args.iterations} timed steps after {args.warmup} warm-up, "
        f"{torch.get_num_threads()} CPU threads"
    )

    # matmul reference rates, each with its own TF32 setting; 20 repeats: ~0.5 s on an H200
    repeats = 3 if args.quick else 20
    set_tf32(False)
    fp32_plain = matmul_tflops(args.matmul_size, torch.float32, device, repeats)
    set_tf32(True)
    fp32_tf32 = matmul_tflops(args.matmul_size, torch.float32, device, repeats)
    rates = {"fp32": fp32_tf32 if args.tf32 else fp32_plain}
    rates["bf16"] = matmul_tflops(args.matmul_size, torch.bfloat16, device, repeats)
    set_tf32(args.tf32)
    print(
        f"matmul {args.matmul_size}^3 TFLOP/s: bf16 {rates['bf16']:.3g}, "
        f"fp32 TF32-off {fp32_plain:.3g}, fp32 TF32-on {fp32_tf32:.3g} "
        f"(fp32 configs compare with TF32-{'on' if args.tf32 else 'off'})"
    )
    print(
        f"dtype mode: fp32 configs TF32 {'on' if args.tf32 else 'off'} "
        f"(float32_matmul_precision={torch.get_float32_matmul_precision()!r}, "
        f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}), bf16 configs autocast bfloat16 "
        f"with fp32 weights, cudnn.benchmark={torch.backends.cudnn.benchmark}"
    )

    torch.manual_seed(0)
    base = CaffeNet(N_CLASSES)
    generator = torch.Generator().manual_seed(0)
    for layer in base.layer_names:  # the Caffe reference init, as build_model does
        base.init_layer(layer, generator)
    # backward is 2x forward (input and weight gradients); conv1 has no input gradient, so the
    # usual 3x overstates a CaffeNet step by ~5%
    step_flops = 3 * forward_flops(base) * args.batch
    n_params = sum(p.numel() for p in base.parameters())
    print(
        f"CaffeNet: {n_params:,} params, {step_flops / 1e12:.3f} TFLOP per training step "
        f"({step_flops / args.batch / 1e9:.2f} GFLOP per image)"
    )

    shape = (N_DATA_BATCHES, args.batch, 3, IMAGE_SIZE, IMAGE_SIZE)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    labels = torch.randint(0, N_CLASSES, shape[:2], device=device)
    results = {}
    for config in args.configs:
        images_per_s, loss = train_images_per_s(base, config, images, labels, args)
        tflops = step_flops / args.batch * images_per_s / 1e12
        fraction = tflops / rates[config[:4]]
        results[config] = (images_per_s, fraction)
        print(
            f"{config:>16}: {images_per_s:9.1f} images/s, {tflops:7.3g} TFLOP/s, "
            f"{100 * fraction:5.1f}% of {config[:4]} matmul, last loss {loss:.3f}"
        )
        if device.type == "cuda":
            torch.cuda.empty_cache()  # give the next config the memory this one cached
    best = max(results, key=lambda c: results[c][0])
    print(
        f"caffenet best: {results[best][0]:.0f} img/s ({best}), "
        f"{100 * results[best][1]:.0f}% of {best[:4]} matmul rate"
    )


if __name__ == "__main__":
    main()
