"""Distributed training under ``torchrun``: the process group, DDP, and rank 0's share.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; with
``WORLD_SIZE`` > 1 every process joins one process group (nccl on GPUs, gloo
on CPUs) and its model is wrapped in DistributedDataParallel, which averages
the gradients. A single process runs the same code, every collective a no-op.
Rank 0 writes the run's files; the other ranks read what it cached.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """This process writes the run's files (rank 0)."""
        return self.rank == 0


def launched() -> Dist:
    """This process's place as ``torchrun`` set it in the environment (before any
    process group is joined; a plain run is rank 0 of 1)."""
    env = os.environ
    return Dist(
        int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))
    )


def setup_distributed(device_kind: str) -> Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (nccl on CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


@contextlib.contextmanager
def distributed(device: torch.device) -> Iterator[tuple[Dist, torch.device]]:
    """This process's place in the run and its device, for the duration of a training run.

    Under torchrun a CUDA device becomes this process's own GPU (``LOCAL_RANK``);
    a process group opened here is closed on leaving.
    """
    opened = not (dist.is_available() and dist.is_initialized())
    dd = setup_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", dd.local_rank)
        torch.cuda.set_device(device)
    try:
        yield dd, device
    finally:
        if opened and dd.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def wrap_ddp(model: torch.nn.Module, device: torch.device, dd: Dist) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when the run has several processes, else itself."""
    if dd.world == 1:
        return model
    ids = [dd.local_rank] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _on_backend(t: torch.Tensor) -> torch.Tensor:
    """``t`` where the process group's backend can reduce it (the GPU for nccl)."""
    return t.cuda() if dist.get_backend() == "nccl" else t


def any_rank(flags: list[bool], dd: Dist) -> list[bool]:
    """Element-wise OR of boolean flags over all processes."""
    if dd.world == 1:
        return flags
    t = _on_backend(torch.tensor([float(f) for f in flags]))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(x) for x in t.cpu().tolist()]


def rank0_int(value: int, dd: Dist) -> int:
    """Rank 0's ``value``, on every process."""
    if dd.world == 1:
        return value
    t = _on_backend(torch.tensor([value], dtype=torch.int64))
    dist.broadcast(t, 0)
    return int(t.item())


def barrier(dd: Dist) -> None:
    """Wait until every process gets here."""
    if dd.world > 1:
        dist.barrier()


def main_first(dd: Dist, load: Callable[[bool], T]) -> T:
    """``load(True)`` on rank 0, then ``load(False)`` on the others once rank 0 is done.

    For work that fills a cache: rank 0 builds it (and reports progress, the
    argument being whether this process is rank 0), the others then read it.
    """
    if dd.main:
        out = load(True)
    barrier(dd)
    if not dd.main:
        out = load(False)
    return out
