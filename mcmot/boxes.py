"""Box formats and overlaps.

Formats (all float arrays, one box per row):

- ``tlwh``: top-left x, top-left y, width, height (MOTChallenge files).
- ``xyxy``: left, top, right, bottom, with ``right = x + w``.
- ``xyah``: centre x, centre y, aspect ratio ``w / h``, height (DeepSORT's
  Kalman state).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def _as2d(boxes: ArrayLike) -> FloatArray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"expected boxes of shape (N, 4), got {arr.shape}")
    return arr


def tlwh_to_xyxy(tlwh: ArrayLike) -> FloatArray:
    """(N, 4) tlwh -> (N, 4) xyxy."""
    b = _as2d(tlwh).copy()
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_tlwh(xyxy: ArrayLike) -> FloatArray:
    """(N, 4) xyxy -> (N, 4) tlwh."""
    b = _as2d(xyxy).copy()
    b[:, 2:] -= b[:, :2]
    return b


def tlwh_to_xyah(tlwh: ArrayLike) -> FloatArray:
    """(N, 4) tlwh -> (N, 4) xyah (centre x, centre y, w / h, h)."""
    b = _as2d(tlwh)
    out = np.empty_like(b)
    out[:, 0] = b[:, 0] + b[:, 2] / 2.0
    out[:, 1] = b[:, 1] + b[:, 3] / 2.0
    out[:, 2] = b[:, 2] / np.maximum(b[:, 3], 1e-12)
    out[:, 3] = b[:, 3]
    return out


def xyah_to_tlwh(xyah: ArrayLike) -> FloatArray:
    """(N, 4) xyah -> (N, 4) tlwh."""
    b = _as2d(xyah)
    out = np.empty_like(b)
    w = b[:, 2] * b[:, 3]
    out[:, 0] = b[:, 0] - w / 2.0
    out[:, 1] = b[:, 1] - b[:, 3] / 2.0
    out[:, 2] = w
    out[:, 3] = b[:, 3]
    return out


def iou_matrix(a_tlwh: ArrayLike, b_tlwh: ArrayLike) -> FloatArray:
    """Intersection over union between every box of ``a`` and every box of ``b``.

    Continuous convention (areas ``w * h``), as motmetrics and TrackEval use.

    Parameters
    ----------
    a_tlwh : (N, 4) array
    b_tlwh : (M, 4) array

    Returns
    -------
    (N, M) array of IoU values in [0, 1]; 0 where a union is empty.
    """
    a = tlwh_to_xyxy(a_tlwh)
    b = tlwh_to_xyxy(b_tlwh)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def clip_tlwh(tlwh: ArrayLike, width: int, height: int) -> FloatArray:
    """Clip (N, 4) tlwh boxes to an image of ``width`` x ``height`` pixels."""
    xyxy = tlwh_to_xyxy(tlwh)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return xyxy_to_tlwh(xyxy)


def box_order(frames: ArrayLike, tlwh: ArrayLike) -> NDArray[np.int64]:
    """Row order by frame, then by box (left, top, width, height).

    An order that is a function of the boxes alone: whatever order the rows
    came in (a detector's confidence order, a ground-truth file sorted by
    identity), the same set of boxes gets the same order, and the order says
    nothing about who is in a box beyond where the box is.

    Parameters
    ----------
    frames : (N,) frame of each row
    tlwh : (N, 4) boxes

    Returns
    -------
    (N,) int64 indices; rows with identical frame and box keep their given order.
    """
    b = _as2d(tlwh)
    f = np.asarray(frames).reshape(-1)
    if len(f) != len(b):
        raise ValueError(f"{len(f)} frames for {len(b)} boxes")
    return np.lexsort((b[:, 3], b[:, 2], b[:, 1], b[:, 0], f)).astype(np.int64)


def unit_boxes(tlwh: NDArray, size: tuple[int, int]) -> NDArray[np.float32]:
    """(k, 4) tlwh pixel boxes -> (cx, cy, w, h) divided by the frame's (width, height)."""
    b = np.asarray(tlwh, np.float64).reshape(-1, 4)
    w, h = size
    centre = b[:, :2] + b[:, 2:] / 2.0
    return (np.column_stack([centre, b[:, 2:]]) / np.array([w, h, w, h])).astype(np.float32)


def near_border(
    tlwh: NDArray[np.float64], size: tuple[float, float], margin: float, *, top: bool = True
) -> NDArray[np.bool_]:
    """(N,) True where a tlwh box (N, 4) lies within ``margin`` pixels of the left,
    right or bottom border of a ``size`` (width, height) image, or of its top with
    ``top``."""
    w, h = size
    x, y = tlwh[:, 0], tlwh[:, 1]
    near = (x <= margin) | (x + tlwh[:, 2] >= w - margin) | (y + tlwh[:, 3] >= h - margin)
    return near | (y <= margin) if top else near
