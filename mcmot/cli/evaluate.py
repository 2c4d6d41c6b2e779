"""``mcmot evaluate``: compare predictions with ground truth (see docs/metrics.md)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from mcmot.cli.common import ScenesArg, ZeroBasedOpt, out, parse_frames, progress_bar, warn
from mcmot.cli.report import cross_view_table, over_time_tables
from mcmot.config import override
from mcmot.scene import Scene


class PredStage(str, Enum):
    global_ = "global"
    tracks = "tracks"


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
    from mcmot.stages.evaluate import EvaluateConfig, run_evaluate

    start, end = parse_frames(frames, zero_based)
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
