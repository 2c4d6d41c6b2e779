"""How one training session runs, whatever the objective: the options every
``run_pretrain*`` entry point takes.

An entry point takes them as keywords (:class:`SessionOptions`, so a caller
writes ``run_pretrain(scenes, run_dir, cfg, resume=True, log=print)`` and a
type checker sees the names) and turns them into one :class:`Session` first
thing, which also fixes the time a ``minutes`` budget counts from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

from mcmot.progress import ProgressCallback, ProgressEvent


class SessionOptions(TypedDict, total=False):
    """The keywords of a training entry point: the fields of :class:`Session`."""

    resume: bool
    overwrite: bool
    progress: ProgressCallback | None
    log: Callable[[str], None] | None
    stop_at_step: int | None
    started: float | None


@dataclass(frozen=True)
class Session:
    """A training session's options.

    Attributes
    ----------
    resume : continue the run in the run folder exactly where it stopped, with the
        settings in its checkpoint except ``minutes``, which bounds this session
    overwrite : restart a run that exists in the run folder
    progress : receives the loading and per-step progress (losses, samples/s)
    log : receives one-line messages for the user
    stop_at_step : end this session (with a checkpoint) after this global step
    started : the ``time.perf_counter()`` the budget counts from (default: when the
        session is made)
    t_start : ``started``, resolved
    """

    resume: bool = False
    overwrite: bool = False
    progress: ProgressCallback | None = None
    log: Callable[[str], None] | None = None
    stop_at_step: int | None = None
    started: float | None = None
    t_start: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        now = time.perf_counter() if self.started is None else self.started
        object.__setattr__(self, "t_start", now)

    def say(self, msg: str) -> None:
        """Hand ``msg`` to ``log``, if any."""
        if self.log is not None:
            self.log(msg)

    def report(self, event: ProgressEvent) -> None:
        """Hand ``event`` to ``progress``, if any."""
        if self.progress is not None:
            self.progress(event)

    def elapsed(self) -> float:
        """Seconds since ``t_start``."""
        return time.perf_counter() - self.t_start

    def deadline(self, minutes: float | None) -> float | None:
        """The ``time.perf_counter()`` a budget of ``minutes`` ends at (None for none)."""
        return None if minutes is None else self.t_start + minutes * 60.0
