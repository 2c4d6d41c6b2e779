"""One camera's ground truth and predictions, grouped by frame, with overlaps.

The over-time metrics (CLEAR, identity, HOTA) all work frame by frame on the
IoU between the ground-truth and the predicted boxes of that frame. This
module computes those matrices once per camera so every metric reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.boxes import iou_matrix
from mcmot.motio import MotTable


@dataclass(frozen=True)
class Sequence:
    """One camera sequence ready for the over-time metrics.

    Frames that hold a box in the ground truth or in the predictions are kept
    (frames with neither change no metric). Within a frame, rows keep the
    order of the file (after a stable sort by frame), as motmetrics does.

    Attributes
    ----------
    frames : (T,) int64, the frame numbers kept, increasing
    gt : list of T arrays (n_t,) intp, indices into ``gt_ids`` of the frame's truth boxes
    pr : list of T arrays (m_t,) intp, indices into ``pr_ids`` of the frame's predictions
    iou : list of T arrays (n_t, m_t) float64, IoU of every truth / prediction pair
    gt_ids : (G,) int64, the distinct true identities, sorted
    pr_ids : (P,) int64, the distinct predicted identities, sorted
    """

    frames: NDArray[np.int64]
    gt: list[NDArray[np.intp]]
    pr: list[NDArray[np.intp]]
    iou: list[NDArray[np.float64]]
    gt_ids: NDArray[np.int64]
    pr_ids: NDArray[np.int64]

    @property
    def num_gt(self) -> int:
        """Number of ground-truth boxes."""
        return int(sum(len(g) for g in self.gt))

    @property
    def num_pr(self) -> int:
        """Number of predicted boxes."""
        return int(sum(len(p) for p in self.pr))


def _by_frame(table: MotTable) -> MotTable:
    order = np.argsort(table.frames, kind="stable")
    return table.select(order)


def _slices(frames: NDArray[np.int64], wanted: NDArray[np.int64]) -> NDArray[np.intp]:
    """(T, 2) start/stop row of each wanted frame in a frame-sorted column."""
    lo = np.searchsorted(frames, wanted, side="left")
    hi = np.searchsorted(frames, wanted, side="right")
    return np.stack([lo, hi], axis=1)


def build_sequence(
    gt: MotTable, pred: MotTable, start: int | None = None, end: int | None = None
) -> Sequence:
    """Group one camera's truth and predictions by frame and compute their IoUs.

    Parameters
    ----------
    gt : ground truth (N rows); every row counts (nothing is ignored)
    pred : predictions (M rows)
    start, end : inclusive frame range; rows outside it are dropped (None: no bound)

    Returns
    -------
    Sequence
    """
    gt = _by_frame(gt.frame_range(start, end))
    pred = _by_frame(pred.frame_range(start, end))
    gt_ids, gt_inv = np.unique(gt.ids, return_inverse=True)
    pr_ids, pr_inv = np.unique(pred.ids, return_inverse=True)
    frames = np.union1d(gt.frames, pred.frames).astype(np.int64)
    gs = _slices(gt.frames, frames)
    ps = _slices(pred.frames, frames)
    gt_idx: list[NDArray[np.intp]] = []
    pr_idx: list[NDArray[np.intp]] = []
    ious: list[NDArray[np.float64]] = []
    for (g0, g1), (p0, p1) in zip(gs, ps, strict=True):
        gt_idx.append(gt_inv[g0:g1].astype(np.intp))
        pr_idx.append(pr_inv[p0:p1].astype(np.intp))
        if g1 > g0 and p1 > p0:
            ious.append(iou_matrix(gt.boxes[g0:g1], pred.boxes[p0:p1]))
        else:
            ious.append(np.zeros((g1 - g0, p1 - p0)))
    return Sequence(frames, gt_idx, pr_idx, ious, gt_ids.astype(np.int64), pr_ids.astype(np.int64))
