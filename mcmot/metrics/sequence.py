"""One camera's ground truth and predictions, grouped by frame, with overlaps.

The over-time metrics (CLEAR, identity, HOTA) all work frame by frame on the
IoU between the ground-truth and the predicted boxes of that frame. This
module computes all those overlaps at once (vectorised over every
same-frame pair) and hands them out per frame, so every metric reuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.motio import MotTable


@dataclass(frozen=True)
class FramePairs:
    """Every same-frame (a row, b row) pair of two frame-sorted tables.

    Pairs are ordered frame by frame and, within a frame, row-major (all b
    rows of the first a row, then of the second, ...), so frame ``t`` owns
    the contiguous block ``start[t]:start[t + 1]``, an ``(n_t, m_t)`` matrix.

    Attributes
    ----------
    a_lo, a_hi : (T,) intp, the a rows of each frame
    b_lo, b_hi : (T,) intp, the b rows of each frame
    start : (T + 1,) intp, block offsets into the pair arrays
    a : (K,) intp, a row of each pair
    b : (K,) intp, b row of each pair
    """

    a_lo: NDArray[np.intp]
    a_hi: NDArray[np.intp]
    b_lo: NDArray[np.intp]
    b_hi: NDArray[np.intp]
    start: NDArray[np.intp]
    a: NDArray[np.intp]
    b: NDArray[np.intp]


def frame_pairs(
    a_frames: NDArray[np.int64], b_frames: NDArray[np.int64], frames: NDArray[np.int64]
) -> FramePairs:
    """All same-frame pairs between two frame-sorted columns, for the given frames.

    Parameters
    ----------
    a_frames : (N,) sorted frame numbers of table a
    b_frames : (M,) sorted frame numbers of table b
    frames : (T,) sorted distinct frames to pair (rows in other frames are skipped)
    """
    a_lo = np.searchsorted(a_frames, frames, "left")
    a_hi = np.searchsorted(a_frames, frames, "right")
    b_lo = np.searchsorted(b_frames, frames, "left")
    b_hi = np.searchsorted(b_frames, frames, "right")
    n = a_hi - a_lo
    m = b_hi - b_lo
    start = np.concatenate([[0], np.cumsum(n * m)]).astype(np.intp)
    rows = np.nonzero(np.isin(a_frames, frames))[0].astype(np.intp)
    t_of_row = np.searchsorted(frames, a_frames[rows])
    per_row = m[t_of_row]
    a = np.repeat(rows, per_row)
    row_start = (np.cumsum(per_row) - per_row).astype(np.intp)
    within = np.arange(len(a)) - np.repeat(row_start, per_row)
    b = np.repeat(b_lo[t_of_row], per_row) + within
    return FramePairs(a_lo, a_hi, b_lo, b_hi, start, a.astype(np.intp), b.astype(np.intp))


def iou_rowwise(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Continuous IoU (areas ``w * h``) of corresponding tlwh boxes, (K, 4) x (K, 4) -> (K,).

    The same arithmetic as :func:`mcmot.boxes.iou_matrix`, one pair per row.
    """
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2, bx2) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(ay2, by2) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    union = (ax2 - a[:, 0]) * (ay2 - a[:, 1]) + (bx2 - b[:, 0]) * (by2 - b[:, 1]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


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
    pair_gt, pair_pr : (K,) intp, identity indices of every same-frame pair
    pair_iou : (K,) float64, their IoU (the blocks of ``iou``, flattened)
    pair_gt_row, pair_pr_row : (K,) intp, the box (row) of each side of each pair
    pair_frame : (K,) intp, the frame (index into ``frames``) of each pair
    gt_present : (G,) int64, the number of frames in which each true identity has a box
    gt_last : (N,) bool, per truth row: the last row of its (frame, identity) in
        file order; all True unless the ground truth repeats a (frame, id)
    """

    frames: NDArray[np.int64]
    gt: list[NDArray[np.intp]]
    pr: list[NDArray[np.intp]]
    iou: list[NDArray[np.float64]]
    gt_ids: NDArray[np.int64]
    pr_ids: NDArray[np.int64]
    pair_gt: NDArray[np.intp]
    pair_pr: NDArray[np.intp]
    pair_iou: NDArray[np.float64]
    pair_gt_row: NDArray[np.intp]
    pair_pr_row: NDArray[np.intp]
    pair_frame: NDArray[np.intp]
    gt_present: NDArray[np.int64]
    gt_last: NDArray[np.bool_]

    @property
    def repeats(self) -> bool:
        """Whether a true identity has several boxes in one frame (see docs/metrics.md)."""
        return not bool(self.gt_last.all())

    @property
    def num_gt(self) -> int:
        """Number of ground-truth boxes."""
        return int(sum(len(g) for g in self.gt))

    @property
    def num_pr(self) -> int:
        """Number of predicted boxes."""
        return int(sum(len(p) for p in self.pr))


def by_frame(table: MotTable) -> MotTable:
    """The table's rows stably sorted by frame (the file order within a frame)."""
    if np.all(np.diff(table.frames) >= 0):
        return table
    return table.select(np.argsort(table.frames, kind="stable"))


def _last_of_group(frames: NDArray[np.int64], ids: NDArray[np.intp]) -> NDArray[np.bool_]:
    """True at the last row (in row order) of each (frame, id) group."""
    n = len(frames)
    order = np.lexsort((np.arange(n), ids, frames))
    f, i = frames[order], ids[order]
    last_sorted = np.r_[(f[1:] != f[:-1]) | (i[1:] != i[:-1]), True] if n else np.zeros(0, bool)
    out = np.zeros(n, bool)
    out[order[last_sorted]] = True
    return out


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
    gt = by_frame(gt.frame_range(start, end))
    pred = by_frame(pred.frame_range(start, end))
    gt_ids, gt_inv = np.unique(gt.ids, return_inverse=True)
    pr_ids, pr_inv = np.unique(pred.ids, return_inverse=True)
    gt_inv = gt_inv.astype(np.intp).reshape(-1)
    pr_inv = pr_inv.astype(np.intp).reshape(-1)
    frames = np.union1d(gt.frames, pred.frames).astype(np.int64)
    fp = frame_pairs(gt.frames, pred.frames, frames)
    flat = iou_rowwise(gt.boxes[fp.a], pred.boxes[fp.b]) if len(fp.a) else np.zeros(0)
    gts = [gt_inv[lo:hi] for lo, hi in zip(fp.a_lo, fp.a_hi, strict=True)]
    prs = [pr_inv[lo:hi] for lo, hi in zip(fp.b_lo, fp.b_hi, strict=True)]
    ious = [
        flat[s:e].reshape(len(g), len(p))
        for s, e, g, p in zip(fp.start[:-1], fp.start[1:], gts, prs, strict=True)
    ]
    gt_last = _last_of_group(gt.frames, gt_inv)
    gt_present = np.bincount(gt_inv[gt_last], minlength=len(gt_ids)).astype(np.int64)
    return Sequence(
        frames=frames,
        gt=gts,
        pr=prs,
        iou=ious,
        gt_ids=gt_ids.astype(np.int64),
        pr_ids=pr_ids.astype(np.int64),
        pair_gt=gt_inv[fp.a],
        pair_pr=pr_inv[fp.b],
        pair_iou=flat,
        pair_gt_row=fp.a,
        pair_pr_row=fp.b,
        pair_frame=np.repeat(np.arange(len(frames), dtype=np.intp), np.diff(fp.start)),
        gt_present=gt_present,
        gt_last=gt_last,
    )
