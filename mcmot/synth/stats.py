"""Summary numbers of a scene's ground truth (any scene with ``gt/``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcmot.motio import read_mot
from mcmot.scene import Scene


@dataclass(frozen=True)
class CameraStats:
    """Ground truth of one camera: boxes, distinct ids, mean visibility (column 8)."""

    name: str
    boxes: int
    ids: int
    mean_visibility: float


@dataclass(frozen=True)
class SceneStats:
    """Ground truth of a scene.

    Attributes
    ----------
    cameras : per-camera numbers
    identities : distinct ids over all cameras
    multi_view : fraction of (frame, id) pairs seen by at least two cameras
    """

    cameras: list[CameraStats]
    identities: int
    multi_view: float


def scene_stats(scene: Scene) -> SceneStats:
    """Count boxes, ids and multi-camera coverage in ``scene``'s ``gt/`` files."""
    per_cam, keys = [], []
    for name, path in scene.stage_files("gt").items():
        t = read_mot(path)
        vis = t.extra[:, 0]
        mean_vis = float(vis[vis >= 0].mean()) if (vis >= 0).any() else float("nan")
        per_cam.append(CameraStats(name, len(t), len(np.unique(t.ids)), mean_vis))
        keys.append(np.unique(t.frames * 1_000_000 + t.ids))
    if not keys:
        return SceneStats([], 0, 0.0)
    allk = np.concatenate(keys)
    uniq, counts = np.unique(allk, return_counts=True)
    ids = np.unique(uniq % 1_000_000)
    multi = float((counts >= 2).mean()) if len(counts) else 0.0
    return SceneStats(per_cam, len(ids), multi)
