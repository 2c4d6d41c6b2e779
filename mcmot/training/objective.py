"""What the trainer needs from a training objective, and from its settings.

An objective (CalibFree's masked autoencoder now; others to come) builds the
model, makes each step's batch from its own data, and computes the loss; the
trainer (mcmot.training.loop) owns the optimiser, the schedule, the processes,
the checkpoints (of the objective's ``kind``, mcmot.models.checkpoint) and the
step log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray


class TrainSettings(Protocol):
    """The settings the trainer reads (a frozen dataclass, saved in every checkpoint).

    Attributes
    ----------
    seed : seed of the weights, the sample order and each step's random draws
    epochs : passes over all samples (ignored when ``minutes`` is set)
    minutes : wall-clock budget; the schedule is planned to end within it
    batch_size : samples per step and process
    lr, min_lr : peak learning rate (after warm-up) and the cosine decay's end
    warmup_epochs : linear warm-up length; with ``minutes``, the same fraction of the run
    weight_decay, beta1, beta2 : AdamW's (no weight decay on biases, norms and tokens)
    clip_grad : gradient-norm clip; 0 = off
    amp : bf16 autocast on CUDA
    save_every : keep a numbered checkpoint every this many epochs; 0 = only the latest
    plan_steps : steps timed to plan a ``minutes`` schedule
    """

    @property
    def seed(self) -> int: ...
    @property
    def epochs(self) -> int: ...
    @property
    def minutes(self) -> float | None: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def min_lr(self) -> float: ...
    @property
    def warmup_epochs(self) -> float: ...
    @property
    def weight_decay(self) -> float: ...
    @property
    def beta1(self) -> float: ...
    @property
    def beta2(self) -> float: ...
    @property
    def clip_grad(self) -> float: ...
    @property
    def amp(self) -> bool: ...
    @property
    def save_every(self) -> int: ...
    @property
    def plan_steps(self) -> int: ...


class Objective(Protocol):
    """A training objective: its model, its data and its loss.

    Attributes
    ----------
    kind : the kind of the checkpoints it writes (mcmot.models.checkpoint.KINDS)
    settings : the run's settings, saved as the checkpoints' ``config``
    num_samples : samples one epoch covers, over all processes
    """

    @property
    def kind(self) -> str: ...
    @property
    def settings(self) -> TrainSettings: ...
    @property
    def num_samples(self) -> int: ...

    def build_model(self, weights: dict[str, torch.Tensor] | None) -> torch.nn.Module:
        """The model on the CPU, from ``weights`` or newly initialised (torch already seeded)."""
        ...

    def loss(
        self, model: torch.nn.Module, step: int, samples: NDArray[np.int64]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One step's batch through ``model`` (maybe DDP-wrapped).

        Parameters
        ----------
        model : the model being trained
        step : the global step (seeds the step's random draws)
        samples : (batch_size,) indices of this process's samples

        Returns
        -------
        The 0-d loss to minimise and the named 0-d terms to log.
        """
        ...

    def checkpoint_extras(self) -> dict[str, Any]:
        """Plain values saved in every checkpoint beside the trainer's state."""
        ...

    def prepare(self, samples: NDArray[np.int64]) -> None:
        """Build the data ``samples`` need that is built on first use (e.g. a
        teacher's targets); the trainer calls it before each step's loss."""
        ...

    def pending_seconds(self, steps: Iterable[NDArray[np.int64]]) -> NDArray[np.float64]:
        """What :meth:`prepare` will cost over the coming steps.

        Parameters
        ----------
        steps : the samples of steps 0, 1, ... (as :meth:`loss` gets them)

        Returns
        -------
        (n,) cumulative seconds: entry k is the cost of preparing steps 0..k. It
        may stop early (n at least 1) where nothing is left to prepare; later
        steps then cost nothing more.
        """
        ...

    @property
    def preparation_hint(self) -> str:
        """What the user can do when preparing a single step does not fit the budget."""
        ...


class NothingToPrepare:
    """For objectives whose data is ready before training: nothing to prepare."""

    def prepare(self, samples: NDArray[np.int64]) -> None:
        return None

    def pending_seconds(self, steps: Iterable[NDArray[np.int64]]) -> NDArray[np.float64]:
        return np.zeros(1)

    @property
    def preparation_hint(self) -> str:
        return "give a larger --minutes"


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``amp`` is set; fp32 elsewhere."""
    if device.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
