"""``mcmot render``: a mosaic video or still of all cameras with identity colours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mcmot.cli.common import SceneArg, info, parse_frames, progress_bar
from mcmot.config import override
from mcmot.errors import McmotError
from mcmot.render import RenderConfig, render_frame, render_video, write_image
from mcmot.scene import Scene


def render_cmd(
    scene: SceneArg,
    what: Annotated[
        str, typer.Option("--what", help="Boxes to draw: det, tracks, global or gt.")
    ] = RenderConfig.what,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output file (.mp4 video, or .png/.jpg with --frame)."),
    ] = None,
    frame: Annotated[
        int | None, typer.Option("--frame", help="Render only this 1-based frame as a still.")
    ] = None,
    frames: Annotated[
        str | None, typer.Option("--frames", help="Frame range START:END of the video.")
    ] = None,
    tile_width: Annotated[
        int, typer.Option("--tile-width", min=32, help="Width of each camera's tile.")
    ] = RenderConfig.tile_width,
    columns: Annotated[
        int, typer.Option("--columns", min=0, help="Tiles per row (0: near-square).")
    ] = RenderConfig.columns,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
) -> None:
    """Draw every camera side by side, boxes coloured and labelled by identity."""
    sc = Scene(scene)
    cfg = override(RenderConfig(), what=what, tile_width=tile_width, columns=columns)
    if out is None:
        out = sc.root / (f"{what}_{frame:06d}.png" if frame is not None else f"{what}.mp4")
    if out.exists() and not overwrite:
        raise McmotError(f"{out} exists; pass --overwrite to replace it")
    if frame is not None:
        write_image(out, render_frame(sc, frame, cfg))
        info(f"wrote {out}")
        return
    with progress_bar() as cb:
        n = render_video(sc, out, cfg, parse_frames(frames), progress=cb)
    info(f"wrote {out} ({n} frames)")
