"""``mcmot info``: what a scene folder holds."""

from __future__ import annotations

from rich.table import Table

from mcmot.cli.common import SceneArg, out
from mcmot.frames import open_source
from mcmot.motio import PREDICTION_STAGES, read_mot
from mcmot.scene import Scene


def info_cmd(scene: SceneArg) -> None:
    """Show a scene's cameras, their frames, and which stage outputs exist."""
    sc = Scene(scene)
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
