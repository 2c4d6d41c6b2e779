"""``mcmot evaluate``: compare predictions with ground truth (see docs/metrics.md)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from mcmot.cli.common import ScenesArg, ZeroBasedOpt, out, parse_frames, progress_bar, warn
from mcmot.cli.report import cross_view_table, over_time_tables
from mcmot.config import override
from mcmot.errors import McmotError
from mcmot.scene import Scene
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate


class PredStage(str, Enum):
    global_ = "global"
    tracks = "tracks"


def _frames(text: str | None, zero_based: bool) -> tuple[int | None, int | None]:
    """--frames in the files' numbering -> 1-based (start, end)."""
    if not zero_based or text is None:
        return parse_frames(text)
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise McmotError(f"--frames must be START:END with integers, got {text!r}") from None
    if start is not None and start < 0:
        raise McmotError("--frames START must be at least 0 with --zero-based")
    if start is not None and end is not None and end < start:
        raise McmotError(f"--frames end {end} is before start {start}")
    return (
        None if start is None else start + 1,
        None if end is None else end + 1,
    )


def evaluate_cmd(
    scenes: ScenesArg,
    pred: Annotated[
        PredStage,
        typer.Option("--pred", help="Predictions to evaluate: global/ (default) or tracks/."),
    ] = PredStage.global_,
    frames: Annotated[
        str | None,
        typer.Option(
            "--frames",
            help="Frame range START:END, inclusive (default: the span of ground-truth frames).",
            metavar="START:END",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    zero_based: ZeroBasedOpt = False,
) -> None:
    """Score predictions against gt/: IDF1, MOTA, HOTA over time and AIDF1, MHAA across views.

    Writes eval.json into each scene (always refreshed) and prints the results.
    """
    start, end = _frames(frames, zero_based)
    cfg = override(EvaluateConfig(), pred=pred.value, start=start, end=end, zero_based=zero_based)
    loaded = [Scene(s) for s in scenes]
    with progress_bar(not as_json) as progress:
        result = run_evaluate(loaded, cfg, progress=progress)
    for message in result.warnings:
        warn(message)
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    for table in over_time_tables(result):
        out.print(table)
    out.print(cross_view_table(result))
