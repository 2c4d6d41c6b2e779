"""The observations that association works on: per-camera track rows as arrays.

A :class:`CameraObs` holds one camera's track rows sorted by frame, with the
foot point of each box (bottom centre), whether the box touches the image
border (then its foot point is unreliable and it is left out of geometry
fitting), its local tracklet id, and optionally its view-agnostic feature.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from mcmot.boxes import iou_matrix, near_border
from mcmot.motio import MotTable


@dataclass(frozen=True)
class CameraObs:
    """One camera's track rows (N rows, sorted by frame).

    Attributes
    ----------
    name : camera name
    frames : (N,) int64, 1-based frame numbers, non-decreasing
    tids : (N,) int64, local tracklet ids
    boxes : (N, 4) float64, tlwh
    size : (width, height) of the image in pixels (measured or estimated)
    truncated : (N,) bool, the box touches the image border
    feats : (N, D) float32 L2-normalised features, or None
    order : (N,) int64, row index in the original (unsorted) track table
    border_margin : pixels from the border within which a box counts as cut
    """

    name: str
    frames: NDArray[np.int64]
    tids: NDArray[np.int64]
    boxes: NDArray[np.float64]
    size: tuple[float, float]
    truncated: NDArray[np.bool_]
    feats: NDArray[np.float32] | None
    order: NDArray[np.int64]
    border_margin: float = 3.0

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def feet(self) -> NDArray[np.float64]:
        """(N, 2) foot points: the bottom centre of each box."""
        b = self.boxes
        return np.stack([b[:, 0] + b[:, 2] / 2.0, b[:, 1] + b[:, 3]], axis=1)

    @property
    def bottom_cut(self) -> NDArray[np.bool_]:
        """(N,) boxes that reach the bottom border: their feet are below the image."""
        return self.boxes[:, 1] + self.boxes[:, 3] >= self.size[1] - self.border_margin

    @property
    def left_cut(self) -> NDArray[np.bool_]:
        """(N,) boxes that reach the left border: their feet are left of the box's centre."""
        return self.boxes[:, 0] <= self.border_margin

    @property
    def right_cut(self) -> NDArray[np.bool_]:
        """(N,) boxes that reach the right border: their feet are right of the box's centre."""
        return self.boxes[:, 0] + self.boxes[:, 2] >= self.size[0] - self.border_margin

    @property
    def heights(self) -> NDArray[np.float64]:
        """(N,) box heights, at least one pixel."""
        return np.maximum(self.boxes[:, 3], 1.0)

    def window(self, start: int, end: int) -> CameraObs:
        """The rows with ``start <= frame <= end``."""
        lo, hi = np.searchsorted(self.frames, [start, end + 1])
        sl = slice(int(lo), int(hi))
        return CameraObs(
            self.name,
            self.frames[sl],
            self.tids[sl],
            self.boxes[sl],
            self.size,
            self.truncated[sl],
            None if self.feats is None else self.feats[sl],
            self.order[sl],
            self.border_margin,
        )


def estimate_size(tables: list[MotTable]) -> tuple[float, float]:
    """An image size from box extents, for scenes without pixels.

    The right-most and bottom-most box edges seen; boxes that reach them are
    then treated as touching the border: left out of fitting, and scored as
    cut there (their feet may lie beyond the visible box).
    """
    xs = [t.boxes[:, 0] + t.boxes[:, 2] for t in tables if len(t)]
    ys = [t.boxes[:, 1] + t.boxes[:, 3] for t in tables if len(t)]
    if not xs:
        return (1.0, 1.0)
    return (float(max(x.max() for x in xs)), float(max(y.max() for y in ys)))


def truncated_mask(
    boxes: NDArray[np.float64], size: tuple[float, float], margin: float
) -> NDArray[np.bool_]:
    """(N,) True where a tlwh box lies within ``margin`` pixels of the left, right
    or bottom image border (those edges move the foot point; the top does not)."""
    return near_border(boxes, size, margin, top=False)


def make_obs(
    name: str,
    tracks: MotTable,
    size: tuple[float, float],
    *,
    border_margin: float,
    feats: NDArray[np.float32] | None = None,
) -> CameraObs:
    """Build a :class:`CameraObs` from a track table.

    Parameters
    ----------
    name : camera name
    tracks : the camera's track rows (any order)
    size : image (width, height)
    border_margin : pixels from the border within which a box counts as cut off
    feats : (N, D) features aligned with the rows of ``tracks``, or None
    """
    order = np.lexsort((tracks.ids, tracks.frames)).astype(np.int64)
    boxes = tracks.boxes[order]
    return CameraObs(
        name=name,
        frames=tracks.frames[order],
        tids=tracks.ids[order],
        boxes=boxes,
        size=size,
        truncated=truncated_mask(boxes, size, border_margin),
        feats=None if feats is None else np.asarray(feats, np.float32)[order],
        order=order,
        border_margin=border_margin,
    )


def features_for_tracks(
    tracks: MotTable, det: MotTable, det_feats: NDArray[np.float32], min_iou: float
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Each track row's feature: the det row of the same frame with the largest IoU.

    Parameters
    ----------
    tracks : (N rows) the camera's tracks
    det : (M rows) the camera's detections, rows aligned with ``det_feats``
    det_feats : (M, D) features
    min_iou : a track row whose best IoU is below this gets no feature

    Returns
    -------
    feats : (N, D) float32, zero rows where no det row matched
    found : (N,) bool, which rows got a feature
    """
    n, d = len(tracks), det_feats.shape[1]
    feats = np.zeros((n, d), np.float32)
    found = np.zeros(n, bool)
    if n == 0 or len(det) == 0:
        return feats, found
    d_order = np.argsort(det.frames, kind="stable")
    d_frames = det.frames[d_order]
    for f in np.unique(tracks.frames):
        t_idx = np.flatnonzero(tracks.frames == f)
        lo, hi = np.searchsorted(d_frames, [f, f + 1])
        if hi <= lo:
            continue
        d_idx = d_order[lo:hi]
        iou = iou_matrix(tracks.boxes[t_idx], det.boxes[d_idx])
        best = iou.argmax(axis=1)
        ok = iou[np.arange(len(t_idx)), best] >= min_iou
        feats[t_idx[ok]] = det_feats[d_idx[best[ok]]]
        found[t_idx[ok]] = True
    return feats, found


def frame_pairs(
    frames_a: NDArray[np.int64], frames_b: NDArray[np.int64], shift: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """All row pairs (i, j) with ``frames_b[j] == frames_a[i] + shift``.

    Both inputs must be sorted. The output is grouped by ``i`` (ascending).

    Returns
    -------
    ia, ib : (M,) int64 row indices into a and b
    """
    lo = np.searchsorted(frames_b, frames_a + shift, side="left")
    hi = np.searchsorted(frames_b, frames_a + shift, side="right")
    counts = hi - lo
    total = int(counts.sum())
    ia = np.repeat(np.arange(len(frames_a), dtype=np.int64), counts)
    if total == 0:
        return ia, np.zeros(0, np.int64)
    offsets = np.cumsum(counts) - counts
    ib = lo[ia] + (np.arange(total, dtype=np.int64) - offsets[ia])
    return ia, ib.astype(np.int64)


def concat_obs(obs: list[CameraObs]) -> CameraObs:
    """One camera's successive pieces (e.g. buffered frames) as one :class:`CameraObs`,
    rows in the given order and numbered anew; ``obs`` must not be empty."""
    feats = None if obs[0].feats is None else np.concatenate([o.feats for o in obs])  # type: ignore[misc]
    n = sum(len(o) for o in obs)
    return replace(
        obs[0],
        frames=np.concatenate([o.frames for o in obs]),
        tids=np.concatenate([o.tids for o in obs]),
        boxes=np.concatenate([o.boxes for o in obs]),
        truncated=np.concatenate([o.truncated for o in obs]),
        feats=feats,
        order=np.arange(n, dtype=np.int64),
    )
