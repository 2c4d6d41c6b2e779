"""The torch device a model runs on, from a ``--device`` choice."""

from __future__ import annotations

import torch

from mcmot.errors import McmotError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without CUDA is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise McmotError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise McmotError("--device cuda: no CUDA device is available")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX tiles).

    Where it does not, bfloat16 autocast is emulated and slower than float32,
    so an 'auto' precision stays float32 there.
    """
    cpu = torch.cpu
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume not
        return False
