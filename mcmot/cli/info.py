"""``mcmot info``: what a scene folder holds, and the label-free health of its results."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from mcmot.cli.common import FpsOpt, SceneArg, out, warn
from mcmot.cli.report import geometry_table, identity_tables
from mcmot.frames import open_source
from mcmot.motio import PREDICTION_STAGES, read_mot
from mcmot.scene import Scene
from mcmot.stages.health import DEFAULT_BIN_SECONDS, health_to_dict, scene_health

BinOpt = Annotated[
    float,
    typer.Option("--bin-seconds", help="Length of one row of the identities-over-time table."),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print the geometry and identity figures as JSON instead."),
]


def info_cmd(
    scene: SceneArg,
    bin_seconds: BinOpt = DEFAULT_BIN_SECONDS,
    fps: FpsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a scene's cameras and stage outputs, and the label-free health of its
    results: each camera pair's geometry and the identities of global/ over time."""
    sc = Scene(scene)
    sc.require_cameras()
    health = scene_health(sc.root, bin_seconds, fps)
    if as_json:
        out.print_json(json.dumps(health_to_dict(health), allow_nan=False))
        return
    _cameras_table(sc)
    for note in health.notes:
        warn(note)
    if health.geometry is not None:
        out.print(geometry_table(health.geometry))
    if health.identities is not None:
        for table in identity_tables(health.identities, health.fps):
            out.print(table)


def _cameras_table(sc: Scene) -> None:
    cams = sc.require_cameras()
    table = Table(title=f"scene {sc.root}")
    table.add_column("camera")
    table.add_column("source")
    table.add_column("frames", justify="right")
    table.add_column("size")
    stages = ["gt", "det", "tracks", "global"]
    for st in stages:
        table.add_column(f"{st} rows", justify="right")
    table.add_column("features")
    for cam in cams:
        frames, size = "-", "-"
        if cam.source is not None:
            with open_source(cam.source) as src:
                frames, size = str(src.num_frames), "{}x{}".format(*src.size)
        cells = []
        for st in stages:
            p = sc.path(st, cam.name)
            strict = st in PREDICTION_STAGES
            cells.append(str(len(read_mot(p, unique_ids=strict))) if p.is_file() else "-")
        feat = "yes" if sc.path("features", cam.name).is_file() else "-"
        src_name = str(cam.source.relative_to(sc.root)) if cam.source else "(no pixels)"
        table.add_row(cam.name, src_name, frames, size, *cells, feat)
    out.print(table)
