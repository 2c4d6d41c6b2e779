"""Pieces shared by the CLI commands: consoles, progress bars, option types."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mcmot.errors import McmotError
from mcmot.progress import ProgressCallback, ProgressEvent

#: Tables and results go to stdout; logs, warnings and progress to stderr.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ScenesArg = Annotated[
    list[Path],
    typer.Argument(help="Scene folder(s) (see docs/layout.md).", show_default=False),
]
SceneArg = Annotated[
    Path, typer.Argument(help="Scene folder (see docs/layout.md).", show_default=False)
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace existing outputs of this stage.")
]
ZeroBasedOpt = Annotated[
    bool,
    typer.Option(
        "--zero-based", help="Input frame numbers (file names, MOT rows) start at 0, not 1."
    ),
]
FpsOpt = Annotated[
    float | None,
    typer.Option(
        "--fps",
        help="Frames per second; turns the durations in seconds into frames (default: the "
        "rate stored in the videos, or 10 for a scene without videos).",
    ),
]
CamerasOpt = Annotated[
    str | None,
    typer.Option("--cameras", help="Comma-separated camera names (default: all).", metavar="A,B"),
]
TeacherArchOpt = Annotated[
    str | None, typer.Option(help="timm architecture of a checkpoint teacher.")
]


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Backend(str, Enum):
    """Where a network runs: torch, ONNX Runtime, OpenVINO, or auto (the fastest installed)."""

    auto = "auto"
    torch = "torch"
    onnx = "onnx"
    openvino = "openvino"


class Boxes(str, Enum):
    """The detector's boxes (det/) or the ground truth's (gt/)."""

    det = "det"
    gt = "gt"


class Cues(str, Enum):
    """Cross-camera cues of associate."""

    appearance = "appearance"
    geometry = "geometry"
    both = "both"


class TrackFeatures(str, Enum):
    """Features the tracker uses; none: motion and IoU only."""

    f_s = "f_s"
    f_a = "f_a"
    none = "none"


def given(ctx: typer.Context, config: type) -> dict[str, Any]:
    """The options of the running command that name a field of the dataclass ``config``
    and were given (not left at their default), by name; an enum as its value."""
    fields = {f.name for f in dataclasses.fields(config)}
    return {
        name: value.value if isinstance(value, Enum) else value
        for name, value in ctx.params.items()
        if name in fields and was_given(ctx, name)
    }


def was_given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given (on the command line or from the
    environment), not left at its default.

    Compared by name: Typer ships its own copy of click, whose enum is not
    ``click.core.ParameterSource``.
    """
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def split_names(text: str | None) -> list[str] | None:
    """'a,b' -> ['a', 'b']; None or '' -> None."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def warn(message: str) -> None:
    """Print a one-line warning on stderr."""
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def info(message: str) -> None:
    """Print a one-line log message on stderr."""
    err.print(message, highlight=False)


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback]:
    """A rich progress display on stderr, driven by :class:`ProgressEvent` callbacks.

    Each distinct ``event.task`` gets its own bar; ``event.info`` values are
    shown beside it.
    """
    if not enabled or not err.is_terminal:
        yield lambda event: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=err, transient=False) as prog:
        ids: dict[str, int] = {}

        def update(event: ProgressEvent) -> None:
            text = "  ".join(f"{k} {v:.4g}" for k, v in (event.info or {}).items())
            if event.task not in ids:
                ids[event.task] = prog.add_task(event.task, total=event.total, info=text)
            prog.update(ids[event.task], completed=event.done, total=event.total, info=text)

        yield update


def parse_frames(text: str | None, zero_based: bool = False) -> tuple[int | None, int | None]:
    """'START:END' -> 1-based (start, end), either side optional; None -> (None, None).

    With ``zero_based`` the text counts frames from 0 (the files' numbering)
    and the result is shifted to 1-based.
    """
    if text is None:
        return None, None
    parts = text.split(":")
    if len(parts) != 2:
        raise McmotError(f"--frames must be START:END (for example 1:500), got {text!r}")
    try:
        start = int(parts[0]) if parts[0].strip() else None
        end = int(parts[1]) if parts[1].strip() else None
    except ValueError:
        raise McmotError(f"--frames must be START:END with integers, got {text!r}") from None
    if start is not None and end is not None and end < start:
        raise McmotError(f"--frames end {end} is before start {start}")
    first = 0 if zero_based else 1
    if start is not None and start < first:
        why = "with --zero-based" if zero_based else "(frames are 1-based)"
        raise McmotError(f"--frames START must be at least {first} {why}")
    shift = 1 - first
    return (
        None if start is None else start + shift,
        None if end is None else end + shift,
    )
