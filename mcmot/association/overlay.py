"""A picture to check the learned geometry: camera a's feet drawn in camera b.

:func:`transfer_overlay` draws, on camera b's frame, b's own boxes and foot
points (circles) and camera a's foot points transferred through the learned
homography (crosses), each in its identity's colour, with a line from a
transferred foot to b's foot of the same global identity. When the geometry
is right, crosses sit on circles of the same colour. ``mcmot render`` can
call it (it returns an image and never prints).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from mcmot.association.geometry import PairGeometry, load_geometry
from mcmot.association.homography import transfer
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.motio import MotTable, read_mot
from mcmot.render import id_colour
from mcmot.scene import Scene

Image = NDArray[np.uint8]


def pair_homography(
    geometry: dict[tuple[str, str], PairGeometry], a: str, b: str, frame: int
) -> NDArray[np.float64]:
    """The homography a -> b valid at ``frame`` (window-specific for moving pairs)."""
    if (a, b) in geometry:
        g, invert = geometry[(a, b)], False
    elif (b, a) in geometry:
        g, invert = geometry[(b, a)], True
    else:
        raise McmotError(f"the geometry file has no pair {a}-{b}")
    H = g.H
    for start, end, Hw, _ in g.segments():
        if start <= frame <= end:
            H = Hw
    return np.linalg.inv(H) if invert else H


def draw_transfer(
    image: Image, rows_b: MotTable, rows_a: MotTable, H: NDArray[np.float64]
) -> Image:
    """Draw b's boxes and feet, and a's feet transferred by ``H``, on a copy of ``image``."""
    out = image.copy()
    feet_b = {}
    for i, (x, y, w, h) in zip(rows_b.ids.tolist(), rows_b.boxes, strict=True):
        c = id_colour(i)
        cv2.rectangle(out, (int(x), int(y)), (int(x + w), int(y + h)), c, 1)
        foot = (int(x + w / 2), int(y + h))
        cv2.circle(out, foot, 4, c, 2)
        feet_b[i] = foot
    if len(rows_a):
        b = rows_a.boxes
        pts = transfer(H, np.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3]], axis=1))
        for i, p in zip(rows_a.ids.tolist(), pts, strict=True):
            if not np.all(np.isfinite(p)) or np.abs(p).max() > 1e5:
                continue
            q = (int(p[0]), int(p[1]))
            c = id_colour(i)
            cv2.drawMarker(out, q, c, cv2.MARKER_CROSS, 10, 2)
            if i in feet_b:
                cv2.line(out, q, feet_b[i], c, 1)
    return out


def transfer_overlay(
    scene: Scene | Path | str,
    cam_a: str,
    cam_b: str,
    frame: int,
    *,
    stage: str = "global",
    geometry_path: Path | None = None,
) -> Image:
    """Camera b's frame with a's feet transferred into it (see the module docstring).

    Parameters
    ----------
    scene : the scene (needs pixels for camera b)
    cam_a, cam_b : source and target cameras
    frame : 1-based frame
    stage : whose boxes and ids to draw: 'global', 'tracks' or 'gt'
    geometry_path : a geometry file; default ``SCENE/geometry.json``
    """
    sc = scene if isinstance(scene, Scene) else Scene(scene)
    geometry = load_geometry(geometry_path or sc.root / "geometry.json")
    sources = {c.name: c.source for c in sc.pixel_cameras()}
    if sources.get(cam_b) is None:
        raise McmotError(f"camera {cam_b} has no pixels in {sc.root}")
    rows = {}
    for cam in (cam_a, cam_b):
        table = read_mot(sc.path(stage, cam))
        rows[cam] = table.select(table.frames == frame)
    with open_source(sources[cam_b]) as src:
        image = src.read(frame)
    H = pair_homography(geometry, cam_a, cam_b, frame)
    return draw_transfer(image, rows[cam_b], rows[cam_a], H)
