"""What every ``mcmot pretrain`` objective's command shares: layered settings, and a
training run with its summary table and Ctrl-C exit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mcmot.cli.common import err, out, progress_bar, warn
from mcmot.cli.report import train_table
from mcmot.config import apply_json, apply_settings, load_overrides, override
from mcmot.errors import McmotError
from mcmot.training.session import Session

if TYPE_CHECKING:
    from mcmot.training.loop import TrainResult

T = TypeVar("T")


def layered_settings(
    base: T, config: Path | None, sets: list[str] | None, options: dict[str, Any]
) -> T:
    """``base``, then the ``--config`` file, the ``--set FIELD=VALUE`` texts
    (:func:`mcmot.config.apply_settings`), ``--minutes`` or ``--epochs`` and the other
    ``options`` (fields of ``base``), each over the ones before."""
    options = dict(options)
    epochs, minutes = options.pop("epochs", None), options.pop("minutes", None)
    if epochs is not None and minutes is not None:
        raise McmotError("give --epochs or --minutes, not both")
    cfg = base
    if config is not None:
        cfg = apply_json(cfg, load_overrides(config))
    cfg = override(apply_settings(cfg, sets or []), minutes=minutes)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs, minutes=None)  # type: ignore[type-var]
    return override(cfg, **options)


def train_and_report(
    title: str,
    stage: Callable[..., TrainResult],
    inputs: list[Path],
    out_dir: Path,
    cfg: Any,
    session: Session,
    extra: Callable[[Any], list[tuple[str, str]]],
) -> None:
    """Run ``stage`` (a ``run_pretrain*`` function) on ``inputs`` into ``out_dir`` with
    ``session``'s resume, overwrite and start time (this command's progress bar and
    warnings added), then print (on rank 0) its summary table with ``extra``'s rows;
    exit 130 after Ctrl-C."""
    from mcmot.training.distributed import launched

    main = launched().main
    log = (lambda m: warn(m.removeprefix("warning: "))) if main else None
    with progress_bar(enabled=main) as bar:
        res = stage(
            inputs,
            out_dir,
            cfg,
            resume=session.resume,
            overwrite=session.overwrite,
            progress=bar,
            log=log,
            started=session.started,
        )
    if not main:
        return
    out.print(train_table(title, res, extra(res)))
    if res.stopped == "interrupted":
        err.print("[red]interrupted[/red]: checkpoint saved; continue with --resume")
        raise typer.Exit(130)
