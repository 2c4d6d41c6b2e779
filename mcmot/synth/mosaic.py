"""Contact sheet: one instant from every camera of a scene, with its boxes drawn.

A thin layer over :mod:`mcmot.render` (the same picture ``mcmot render
--frame K`` makes), with each camera at its native resolution.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.render import RenderConfig, render_frame, write_image
from mcmot.scene import Scene


def make_mosaic(scene: Scene, frame: int, *, stage: str | None = "gt") -> NDArray[np.uint8]:
    """Tile every camera's ``frame`` (1-based) in a grid, with ``stage`` boxes drawn.

    Parameters
    ----------
    scene : a scene with pixels
    frame : 1-based frame number
    stage : MOT stage whose boxes to draw (``gt``, ``tracks``, ``global``), or None

    Returns
    -------
    (H, W, 3) uint8 BGR image
    """
    cams = scene.pixel_cameras()
    if not cams:
        raise McmotError(f"{scene.root} has no pixels to show")
    with open_source(cams[0].source) as src:  # type: ignore[arg-type]
        width = src.size[0]
    cfg = RenderConfig(what=stage or "none", tile_width=width, thickness=1)
    return render_frame(scene, frame, cfg)


def write_mosaic(scene: Scene, frame: int, path: Path, *, stage: str | None = "gt") -> Path:
    """Write :func:`make_mosaic` as a PNG at ``path`` (atomically) and return the path."""
    write_image(Path(path), make_mosaic(scene, frame, stage=stage))
    return Path(path)
