"""The detections and crops the learned tracker trains on and tracks with.

Training reads every camera with pixels of the given scenes: its ``det/``
rows that score at least ``min_score`` and stay at least ``min_box_px`` wide
and high inside the frame, each cropped from the video and resized to a
square of ``crop`` pixels (the paper's 64). The crops are cached in the
scene (``SCENE/cache/cross-input/``) keyed by the video, the det file and
the settings, so a resumed run, or any later run on the scene, does not
decode again. Tracking crops every det row of a camera
the same way (:func:`detection_crops`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.caches import Arrays, load_or_build, scene_cache
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.models.cross_input_config import CrossInputConfig
from mcmot.motio import MotTable, read_mot
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Camera, Scene
from mcmot.stages.pretrain_data import CropSpec, camera_crops, keep_rows, pixel_cameras
from mcmot.training.cross_input import CameraDets


def frame_size(cam: Camera) -> tuple[int, int]:
    """The camera's (width, height)."""
    with open_source(cam.source) as src:  # type: ignore[arg-type]
        return src.size


def detection_crops(
    cam: Camera, table: MotTable, crop: int, progress: ProgressCallback | None = None
) -> NDArray[np.uint8]:
    """(N, crop, crop, 3) crops of every row of ``table``, in its row order."""
    spec = CropSpec(height=crop, width=crop)
    rows = {int(f): np.flatnonzero(table.frames == f) for f in np.unique(table.frames)}

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(ProgressEvent(f"crops {cam.name}", done, total))

    got = camera_crops(cam, rows, table, spec, report)
    out = np.zeros((len(table), crop, crop, 3), np.uint8)
    for f, idx in rows.items():
        if f in got:
            out[idx] = got[f]
    return out


#: The scene's cache folder of these crops (mcmot.caches).
CACHE_KIND = "cross-input"


def _camera_key(scene: Scene, cam: Camera, cfg: CrossInputConfig) -> str:
    parts: dict[str, object] = {
        "settings": [cfg.crop, cfg.min_score, cfg.min_box_px],
        "camera": f"{scene.root.resolve()}/{cam.name}",
    }
    for p in (Path(cam.source), scene.path("det", cam.name)):  # type: ignore[arg-type]
        st = p.stat()
        parts[str(p.resolve())] = [st.st_size, st.st_mtime_ns]
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build_camera(
    scene: Scene, cam: Camera, cfg: CrossInputConfig, progress: ProgressCallback | None = None
) -> CameraDets:
    """One camera's kept detections (see the module docstring), decoded and cropped."""
    table = read_mot(scene.path("det", cam.name), unique_ids=False)
    size = frame_size(cam)
    spec = CropSpec(
        height=cfg.crop,
        width=cfg.crop,
        max_dets=10**9,
        min_score=cfg.min_score,
        min_box_px=cfg.min_box_px,
    )
    rows = keep_rows(table, spec, size)
    keep = np.concatenate([rows[f] for f in sorted(rows)]) if rows else np.zeros(0, np.int64)
    name = f"{scene.name}/{cam.name}"

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(ProgressEvent(f"crops {name}", done, total))

    got = camera_crops(cam, rows, table, spec, report)
    kept = [f for f in sorted(rows) if f in got]
    crops = (
        np.concatenate([got[f] for f in kept])
        if kept
        else np.zeros((0, cfg.crop, cfg.crop, 3), np.uint8)
    )
    keep = keep[: len(crops)]
    return CameraDets(
        name, size, table.frames[keep].astype(np.int64), table.boxes[keep].astype(np.float64), crops
    )


def load_cameras(
    scenes: list[Path],
    cfg: CrossInputConfig,
    progress: ProgressCallback | None = None,
) -> list[CameraDets]:
    """Every camera with pixels of ``scenes``, through each scene's cache."""
    out = []
    for root in scenes:
        scene = Scene(root)
        cams = pixel_cameras(scene)
        missing = [c.name for c in cams if not scene.path("det", c.name).is_file()]
        if missing:
            raise McmotError(
                f"{scene.root} has no det/ for camera(s) {', '.join(missing)}: "
                f"run `mcmot detect {scene.root}` first"
            )
        for cam in cams:
            out.append(_cached_camera(scene, cam, cfg, progress))
    return out


def _cached_camera(
    scene: Scene,
    cam: Camera,
    cfg: CrossInputConfig,
    progress: ProgressCallback | None,
) -> CameraDets:
    path = scene_cache(scene.root, CACHE_KIND) / f"dets-{_camera_key(scene, cam, cfg)}.npz"

    def build() -> Arrays:
        d = build_camera(scene, cam, cfg, progress)
        return {
            "name": np.array(d.name),
            "size": np.array(d.size),
            "frames": d.frames,
            "boxes": d.boxes,
            "crops": d.crops,
        }

    z = load_or_build(path, build)
    size = (int(z["size"][0]), int(z["size"][1]))
    return CameraDets(str(z["name"]), size, z["frames"], z["boxes"], z["crops"])
