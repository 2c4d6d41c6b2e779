"""Contact sheet: one instant from every camera of a scene, with its boxes drawn.

Works for any scene with pixels (not only synthetic ones): each camera's
frame is read through :func:`mcmot.frames.open_source`, the boxes of
``gt/<cam>.txt`` (or of another MOT stage) for that frame are drawn with
their ids in a colour per id, and the images are tiled in a grid.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import read_mot
from mcmot.scene import Scene

#: Gap between tiles and height of the caption strip, in pixels.
GAP, CAPTION = 4, 18


def id_colour(pid: int) -> tuple[int, int, int]:
    """A bright BGR colour that is the same for an id in every camera."""
    hue = (pid * 47) % 180
    hsv = np.uint8([[[hue, 220, 255]]])
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


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
    cams = [c for c in scene.require_cameras() if c.source is not None]
    if not cams:
        raise McmotError(f"{scene.root} has no pixels to show")
    tiles = []
    for cam in cams:
        with open_source(cam.source) as src:  # type: ignore[arg-type]
            if not 1 <= frame <= src.num_frames:
                raise McmotError(f"frame {frame} is outside 1..{src.num_frames} of {cam.name}")
            img = src.read(frame).copy()
        if stage is not None and scene.path(stage, cam.name).is_file():
            _draw_boxes(img, read_mot(scene.path(stage, cam.name)), frame)
        tiles.append(_caption(img, f"{cam.name}  frame {frame}"))
    return _grid(tiles)


def _draw_boxes(img: NDArray[np.uint8], table, frame: int) -> None:
    rows = table.select(table.frames == frame)
    for pid, (x, y, w, h) in zip(rows.ids, rows.boxes, strict=True):
        c = id_colour(int(pid))
        cv2.rectangle(img, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), c, 1)
        cv2.putText(
            img, str(pid), (int(x), max(int(y) - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1
        )


def _caption(img: NDArray[np.uint8], text: str) -> NDArray[np.uint8]:
    strip = np.full((CAPTION, img.shape[1], 3), 30, np.uint8)
    cv2.putText(strip, text, (4, CAPTION - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    return np.vstack([strip, img])


def _grid(tiles: list[NDArray[np.uint8]]) -> NDArray[np.uint8]:
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    th = max(t.shape[0] for t in tiles)
    tw = max(t.shape[1] for t in tiles)
    sheet = np.full((rows * (th + GAP) - GAP, cols * (tw + GAP) - GAP, 3), 255, np.uint8)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        y, x = r * (th + GAP), c * (tw + GAP)
        sheet[y : y + t.shape[0], x : x + t.shape[1]] = t
    return sheet


def write_mosaic(scene: Scene, frame: int, path: Path, *, stage: str | None = "gt") -> Path:
    """Write :func:`make_mosaic` as a PNG at ``path`` (atomically) and return the path."""
    from mcmot.atomic import atomic_path

    img = make_mosaic(scene, frame, stage=stage)
    with atomic_path(Path(path), suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), img):
            raise McmotError(f"cannot write {path}")
    return Path(path)
