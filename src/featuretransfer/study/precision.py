"""train.precision "auto" made concrete for a device before any job id is computed: bf16 where
the device multiplies bfloat16 natively, fp32 elsewhere (a machine without bf16 units trains as
before, in fp32)."""

from __future__ import annotations

import dataclasses

import torch

from featuretransfer.study.studyspec import StudySpec


def native_bf16(device: str) -> bool:
    """Whether `device` ("auto": a GPU if there is one) multiplies bfloat16 matrices natively:
    a CPU with AVX512-BF16 or AMX-BF16 units, or a GPU with bf16 (Ampere and later)."""
    name = device.split(",")[0]
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    kind = torch.device(name).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if kind != "cpu":
        return False
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()  # torch >= 2.5
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


def resolve_precision(study: StudySpec, device: str = "auto") -> StudySpec:
    """The study with train.precision "auto" made concrete for `device`: "bf16" where it runs
    bf16 natively, else "fp32". Done before any job id is computed, so ids and records name the
    precision the nets train in: on a machine that resolves otherwise the same study plans
    other nets (pin the precision in the study file to go on with the same ones)."""
    if study.train.precision != "auto":
        return study
    precision = "bf16" if native_bf16(device) else "fp32"
    return dataclasses.replace(study, train=dataclasses.replace(study.train, precision=precision))
