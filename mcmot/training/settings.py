"""The ranges of the trainer's settings, checked the same way for every objective.

Imports nothing heavy: the settings modules (and so ``mcmot pretrain --help``)
use it without loading torch.
"""

from __future__ import annotations

from typing import Any

#: Longest ``minutes`` budget (a year).
MAX_MINUTES = 60 * 24 * 365
#: Largest peak learning rate.
MAX_LR = 1.0
#: Largest seed (torch and numpy take 0 to 2**63 - 1).
MAX_SEED = 2**63 - 1


def trainer_ranges(cfg: Any) -> list[tuple[str, bool, str]]:
    """``(field, ok, bounds)`` of the settings the trainer reads
    (mcmot.training.objective.TrainSettings); ``batch_size`` is left to each objective."""
    return [
        (
            "minutes",
            cfg.minutes is None or 0 < cfg.minutes <= MAX_MINUTES,
            f"above 0, at most {MAX_MINUTES}",
        ),
        ("epochs", cfg.epochs >= 1, "at least 1"),
        ("lr", 0 < cfg.lr <= MAX_LR, f"above 0, at most {MAX_LR:g}"),
        ("min_lr", 0 <= cfg.min_lr <= cfg.lr, "0 to lr"),
        ("seed", 0 <= cfg.seed <= MAX_SEED, f"0 to {MAX_SEED}"),
        ("warmup_epochs", cfg.warmup_epochs >= 0, "0 or more"),
        ("weight_decay", cfg.weight_decay >= 0, "0 or more"),
        ("beta1", 0 <= cfg.beta1 < 1, "0 to 1 (below 1)"),
        ("beta2", 0 <= cfg.beta2 < 1, "0 to 1 (below 1)"),
        ("clip_grad", cfg.clip_grad >= 0, "0 or more"),
        ("save_every", cfg.save_every >= 0, "0 or more"),
        ("plan_steps", cfg.plan_steps >= 1, "at least 1"),
    ]
