"""``mcmot render``: a mosaic video or still of all cameras with identity colours."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mcmot.cli.common import SceneArg, info, parse_frames, progress_bar
from mcmot.config import override
from mcmot.errors import McmotError
from mcmot.render import (
    MAX_MOSAIC_PIXELS,
    MAX_TILE_WIDTH,
    RenderConfig,
    check_out,
    render_frame,
    render_video,
    write_image,
)
from mcmot.scene import Scene


def render_cmd(
    scene: SceneArg,
    what: Annotated[
        str, typer.Option("--what", help="Boxes to draw: det, tracks, global or gt.")
    ] = RenderConfig.what,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output file: an .mp4 video, or a .png/.jpg still with --frame."
        ),
    ] = None,
    frame: Annotated[
        int | None, typer.Option("--frame", help="Render only this 1-based frame as a still.")
    ] = None,
    frames: Annotated[
        str | None, typer.Option("--frames", help="Frame range START:END of the video.")
    ] = None,
    tile_width: Annotated[
        int,
        typer.Option(
            "--tile-width",
            help=f"Width of each camera's tile in pixels, 32 to {MAX_TILE_WIDTH}; the whole "
            f"mosaic may have at most {MAX_MOSAIC_PIXELS} pixels.",
        ),
    ] = RenderConfig.tile_width,
    columns: Annotated[
        int,
        typer.Option("--columns", help="Tiles per row (0: near-square; at most the cameras)."),
    ] = RenderConfig.columns,
    transfer: Annotated[
        str | None,
        typer.Option(
            "--transfer",
            metavar="A:B",
            help="With --frame: draw camera A's foot points carried into camera B by the "
            "learned geometry (geometry.json), to check it by eye.",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
) -> None:
    """Draw every camera side by side, boxes coloured and labelled by identity."""
    sc = Scene(scene)
    if transfer is not None:
        _render_transfer(sc, transfer, frame, what, out, overwrite)
        return
    cfg = override(RenderConfig(), what=what, tile_width=tile_width, columns=columns)
    cfg.validate()
    if out is None:
        out = sc.root / (f"{what}_{frame:06d}.png" if frame is not None else f"{what}.mp4")
    check_out(out, still=frame is not None)
    sc.check_writable([out], overwrite)
    if frame is not None:
        write_image(out, render_frame(sc, frame, cfg))
        info(f"wrote {out}")
        return
    with progress_bar() as cb:
        n = render_video(sc, out, cfg, parse_frames(frames), progress=cb)
    info(f"wrote {out} ({n} frames)")


def _render_transfer(
    sc: Scene, pair: str, frame: int | None, what: str, out: Path | None, overwrite: bool
) -> None:
    from mcmot.association.overlay import transfer_overlay

    cams = pair.split(":")
    if len(cams) != 2 or not all(cams):
        raise McmotError(f"--transfer takes two camera names A:B, got {pair!r}")
    if frame is None:
        raise McmotError("--transfer needs --frame K")
    out = out or sc.root / f"transfer_{cams[0]}_{cams[1]}_{frame:06d}.png"
    check_out(out, still=True)
    sc.check_writable([out], overwrite)
    write_image(out, transfer_overlay(sc, cams[0], cams[1], frame, stage=what))
    info(f"wrote {out}")
