"""Progress reporting without printing.

Library code never writes to the terminal. Long work takes an optional
``progress`` callback; the CLI passes one that drives a rich progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One progress update.

    Attributes
    ----------
    task:
        Name of the unit of work (for example a camera name or "epoch 3").
    done:
        Units completed so far in this task.
    total:
        Total units in this task, or ``None`` when unknown.
    info:
        Extra short values to show (losses, frames/s, ...).
    """

    task: str
    done: int
    total: int | None = None
    info: dict[str, float] | None = None


ProgressCallback = Callable[[ProgressEvent], None]
