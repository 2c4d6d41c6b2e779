"""The planned run: steps per epoch, total and warm-up steps, the learning rate of
each step, and which samples each step of each process sees.

Everything a step draws is a function of ``(seed, step)`` and the process's
rank (the order of the samples in each epoch, the step's random generator),
so a resumed run continues exactly and a CPU run is reproducible.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.training.distributed import Dist
from mcmot.training.objective import TrainSettings


@dataclass(frozen=True)
class Schedule:
    """The planned run: steps per epoch, total and warm-up steps."""

    steps_per_epoch: int
    total_steps: int
    warmup_steps: int


def lr_at(step: int, sched: Schedule, cfg: TrainSettings) -> float:
    """Learning rate of 0-based ``step``: linear warm-up, then cosine decay to ``min_lr``."""
    if step < sched.warmup_steps:
        return cfg.lr * (step + 1) / sched.warmup_steps
    span = max(1, sched.total_steps - sched.warmup_steps)
    progress = min(1.0, (step - sched.warmup_steps) / span)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def plan_epochs(cfg: TrainSettings, num_samples: int, dd: Dist) -> Schedule:
    """``cfg.epochs`` passes over ``num_samples`` samples shared by all processes."""
    per_rank = math.ceil(num_samples / dd.world)
    spe = max(1, math.ceil(per_rank / cfg.batch_size))
    total = max(1, cfg.epochs * spe)
    warm = min(total - 1, round(cfg.warmup_epochs * spe)) if total > 1 else 0
    return Schedule(spe, total, max(0, warm))


def steps_in_budget(budget_s: float, seconds_per_step: float) -> int:
    """How many steps of ``seconds_per_step`` fit ``budget_s`` seconds (at least 1)."""
    return max(1, int(budget_s / seconds_per_step))


def steps_within(
    budget_s: float, seconds_per_step: float, pending: NDArray[np.float64], limit: int
) -> int:
    """How many steps fit ``budget_s`` when each takes ``seconds_per_step`` plus its
    share of a preparation cost (0 when even the first does not fit).

    Parameters
    ----------
    budget_s : the seconds left
    seconds_per_step : one step's time, preparation excluded
    pending : (n,) cumulative preparation seconds of steps 0..k; steps after
        the n-th prepare nothing
    limit : the most steps to return
    """
    k = np.arange(1, len(pending) + 1)
    fits = k * seconds_per_step + pending <= budget_s
    if not fits.all():
        return min(int(np.argmin(fits)), limit)
    if seconds_per_step <= 0:
        return limit
    left = budget_s - len(pending) * seconds_per_step - float(pending[-1])
    return min(len(pending) + int(left // seconds_per_step), limit)


def plan_steps(cfg: TrainSettings, steps_per_epoch: int, total: int) -> Schedule:
    """A run of ``total`` steps (what a time budget allows); warm-up keeps the
    fraction of the run that ``cfg``'s epochs give it."""
    frac = cfg.warmup_epochs / max(1, cfg.epochs)
    warm = min(total - 1, round(frac * total)) if total > 1 else 0
    return Schedule(steps_per_epoch, total, max(0, warm))


def epoch_order(num: int, seed: int, epoch: int, dd: Dist, per_rank: int) -> NDArray[np.int64]:
    """This process's sample order for ``epoch``: (per_rank,) indices into all samples."""
    perm = np.random.default_rng([seed, epoch]).permutation(num)[dd.rank :: dd.world]
    return np.resize(perm, per_rank)


def step_samples(
    step: int, sched: Schedule, num_samples: int, cfg: TrainSettings, dd: Dist
) -> NDArray[np.int64]:
    """(batch_size,) indices of the samples this process trains on at ``step``."""
    spe, b = sched.steps_per_epoch, cfg.batch_size
    epoch, pos = divmod(step, spe)
    order = epoch_order(num_samples, cfg.seed, epoch, dd, spe * b)
    return order[pos * b : (pos + 1) * b]


def planned_samples(
    sched: Schedule, num_samples: int, cfg: TrainSettings, dd: Dist
) -> Iterator[NDArray[np.int64]]:
    """:func:`step_samples` of steps 0, 1, ... (endless), each epoch's order drawn once."""
    spe, b = sched.steps_per_epoch, cfg.batch_size
    for epoch in itertools.count():
        order = epoch_order(num_samples, cfg.seed, epoch, dd, spe * b)
        for pos in range(spe):
            yield order[pos * b : (pos + 1) * b]


def step_generator(seed: int, step: int, dd: Dist) -> torch.Generator:
    """The random generator of one step on one process (e.g. its masks)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + dd.rank)
