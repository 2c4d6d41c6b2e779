"""Cross-view metrics AIDP, AIDR, AIDF1 and MHAA (the MvMHAT benchmark's algorithm).

A faithful re-implementation of the benchmark's official evaluation code,
quirks included, as specified in ``docs/metrics.md`` (from the project's
``crossview-metrics.md``). In short, for every frame of the range and every
pair of views ``v1 < v2``:

- if ``v2`` (else ``v1``) has no ground truth, its predicted boxes are added
  to the precision denominator and the pair is skipped;
- each ground-truth box gets the label of the prediction matched to it in
  its own view (best-IoU union rule, IoU with the +1 pixel convention), or 0;
- ``TP`` counts true ids seen in both views whose labels agree (non-zero),
  MME, MISSED, FP and BBX accumulate as in the official code.

Per frame ``P_f = TP / prec_den`` and ``R_f = TP / rec_den`` (0 when the
denominator is 0); per sequence the means over all frames of the range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.metrics.sequence import by_frame, frame_pairs
from mcmot.motio import MotTable

#: A prediction and a ground-truth box match when their IoU is above this.
CROSSVIEW_IOU = 0.5


@dataclass(frozen=True)
class CrossViewCounts:
    """Cross-view results of one sequence (one multi-camera scene).

    Attributes
    ----------
    precision : (F,) float64, per-frame precision ``P_f`` over the frame range
    recall : (F,) float64, per-frame recall ``R_f``
    missed, fp, mme, bbx : the sums of the official code (``missed`` may be negative)
    """

    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    missed: int
    fp: int
    mme: int
    bbx: int

    @property
    def seq_precision(self) -> float:
        """Per-sequence precision P (AIDP of one sequence): mean of the per-frame values."""
        return float(self.precision.mean()) if len(self.precision) else 0.0

    @property
    def seq_recall(self) -> float:
        """Per-sequence recall R (AIDR of one sequence): mean of the per-frame values."""
        return float(self.recall.mean()) if len(self.recall) else 0.0

    def summary(self) -> dict[str, float | int]:
        """P, R and the sums, as plain numbers."""
        return {
            "P": self.seq_precision,
            "R": self.seq_recall,
            "missed": self.missed,
            "fp": self.fp,
            "mme": self.mme,
            "bbx": self.bbx,
        }


def combine_crossview(seqs: list[CrossViewCounts]) -> dict[str, float | None]:
    """AIDP, AIDR, AIDF1, MHAA over several sequences, as the benchmark aggregates.

    AIDP / AIDR are means over sequences of the per-sequence P / R; AIDF1 is
    their harmonic mean; MHAA = 1 - (2 MME + FP + MISSED) / BBX from sums.
    An empty list gives None everywhere.
    """
    if not seqs:
        return {"AIDP": None, "AIDR": None, "AIDF1": None, "MHAA": None}
    p = float(np.mean([s.seq_precision for s in seqs]))
    r = float(np.mean([s.seq_recall for s in seqs]))
    bbx = sum(s.bbx for s in seqs)
    err = sum(2 * s.mme + s.fp + s.missed for s in seqs)
    return {
        "AIDP": p,
        "AIDR": r,
        "AIDF1": 2 * p * r / (p + r) if p + r > 0 else 0.0,
        "MHAA": 1.0 - err / bbx if bbx else None,
    }


# ---------------------------------------------------------------- labels of one view
def iou_plus_one(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """IoU with the +1 pixel convention of the official code, for corresponding rows.

    Intersection width ``min(x2) - max(x1) + 1`` with ``x2 = x + w`` (same
    for heights), areas ``(w + 1)(h + 1)``; a non-positive intersection width
    or height gives 0.

    Parameters
    ----------
    a, b : (K, 4) tlwh boxes

    Returns
    -------
    (K,) float64
    """
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.minimum(ax2, bx2) - np.maximum(a[:, 0], b[:, 0]) + 1
    ih = np.minimum(ay2, by2) - np.maximum(a[:, 1], b[:, 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (a[:, 2] + 1) * (a[:, 3] + 1) + (b[:, 2] + 1) * (b[:, 3] + 1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _best_first(values: NDArray, groups: NDArray[np.intp]) -> NDArray[np.bool_]:
    """For values sorted by group: True at the first maximum of each group."""
    k = len(values)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    size = np.diff(np.r_[starts, k])
    gmax = np.repeat(np.maximum.reduceat(values, starts), size)
    pos = np.where(values == gmax, np.arange(k), k)
    first = np.minimum.reduceat(pos, starts)
    out = np.zeros(k, bool)
    out[first] = True
    return out


def truth_labels(gt: MotTable, pred: MotTable, frames: NDArray[np.int64]) -> NDArray[np.int64]:
    """Label of each ground-truth row: the id of the prediction matched to it, or 0.

    Both tables sorted by frame. In each frame a pair matches when the
    prediction is the truth box's best (first on ties) with IoU > 0.5, or the
    truth box is the prediction's best; where several predictions match one
    truth box the last in row order wins.

    Parameters
    ----------
    gt : N ground-truth rows, pred : predictions, frames : the frames to label

    Returns
    -------
    (N,) int64 labels (0 for rows outside ``frames`` too)
    """
    labels = np.zeros(len(gt), np.int64)
    fp = frame_pairs(gt.frames, pred.frames, frames)
    if not len(fp.a):
        return labels
    iou = iou_plus_one(gt.boxes[fp.a], pred.boxes[fp.b])
    row_best = _best_first(iou, fp.a)  # pairs are sorted by gt row, then prediction row
    order = np.lexsort((fp.a, fp.b))
    col_best = np.zeros(len(iou), bool)
    col_best[order] = _best_first(iou[order], fp.b[order])
    match = (row_best | col_best) & (iou > CROSSVIEW_IOU)
    idx = np.flatnonzero(match)
    rows = fp.a[idx]
    last = np.r_[rows[1:] != rows[:-1], True] if len(idx) else np.zeros(0, bool)
    labels[rows[last]] = pred.ids[fp.b[idx[last]]]
    return labels


# ---------------------------------------------------------------- one pair of views
@dataclass(frozen=True)
class _ViewFrame:
    """One view in one frame, as Python lists and lookups (the arrays are tiny)."""

    gt: list[int]
    pr: list[int]
    labels: list[int]
    gt_first: dict[int, int]
    lab_first: dict[int, int]
    unlabeled: set[int]

    @classmethod
    def make(cls, gt: list[int], pr: list[int], labels: list[int]) -> _ViewFrame:
        return cls(gt, pr, labels, _first(gt), _first(labels), set(pr) - set(labels))


def _first(values: list[int]) -> dict[int, int]:
    """value -> index of its first occurrence."""
    out: dict[int, int] = {}
    for i, v in enumerate(values):
        out.setdefault(v, i)
    return out


_EMPTY = _ViewFrame.make([], [], [])


def _kept_label(v: _ViewFrame, g: int, lab_common: set[int]) -> int:
    """The label that the official code keeps for true id ``g`` in view ``v`` (0: none).

    Only first occurrences survive its ``transform_top_hor``: ``g``'s first
    box, and its label only if that box is the label's first occurrence.
    """
    i = v.gt_first[g]
    lab = v.labels[i]
    if lab == 0 or lab not in lab_common or v.lab_first[lab] != i:
        return 0
    return lab


def _pair(v1: _ViewFrame, v2: _ViewFrame, scalar_quirk: bool) -> tuple[int, ...]:
    """One pair of views with truth in both: (TP, rec_den, prec_den, missed, fp, mme, bbx)."""
    gt_common = v1.gt_first.keys() & v2.gt_first.keys()
    n_gt_common = len(gt_common)
    if scalar_quirk and len(v1.gt) == 1 and len(v2.gt) == 1:
        # MATLAB quirk: intersect() of two scalars with nothing in common is a
        # 1x0 row, whose size along the first dimension (the count used) is 1.
        n_gt_common = 1
    lab_common = v1.lab_first.keys() & v2.lab_first.keys()
    right = 0
    for g in gt_common:
        if g == 0:
            continue
        lab = _kept_label(v1, g, lab_common)
        if lab != 0 and lab == _kept_label(v2, g, lab_common):
            right += 1
    fp = len(v1.unlabeled.intersection(v2.pr)) + len(v2.unlabeled.intersection(v1.pr))
    return (
        right,
        sum(1 for g in gt_common if g > 0),
        sum(1 for lab in lab_common if lab > 0),
        2 * (n_gt_common - len(lab_common)),
        fp,
        len(lab_common) - right,
        len(v1.gt) + len(v2.gt),
    )


# ---------------------------------------------------------------- one sequence
def _view_frames(gt: MotTable, pred: MotTable, frames: NDArray[np.int64]) -> list[_ViewFrame]:
    """Per frame of ``frames`` (sorted, distinct): the view's ids and truth labels."""
    gt, pred = by_frame(gt), by_frame(pred)
    labels = truth_labels(gt, pred, frames)
    g_lo = np.searchsorted(gt.frames, frames, "left").tolist()
    g_hi = np.searchsorted(gt.frames, frames, "right").tolist()
    p_lo = np.searchsorted(pred.frames, frames, "left").tolist()
    p_hi = np.searchsorted(pred.frames, frames, "right").tolist()
    gt_ids, pr_ids, labs = gt.ids.tolist(), pred.ids.tolist(), labels.tolist()
    out = []
    for a, b, c, d in zip(g_lo, g_hi, p_lo, p_hi, strict=True):
        if a == b and c == d:
            out.append(_EMPTY)
        else:
            out.append(_ViewFrame.make(gt_ids[a:b], pr_ids[c:d], labs[a:b]))
    return out


def crossview_counts(
    views: list[tuple[MotTable, MotTable]], start: int, end: int, *, scalar_quirk: bool = True
) -> CrossViewCounts:
    """Cross-view counts of one sequence.

    Parameters
    ----------
    views : per view, in the benchmark's view order: (ground truth, predictions)
    start, end : the inclusive frame range; every frame counts, even an empty one
    scalar_quirk : reproduce the official code's count of common true ids when
        both views hold exactly one truth box (see :func:`_pair`)

    Returns
    -------
    CrossViewCounts
    """
    n = end - start + 1
    # Frames where no view has a box add nothing but a 0 to the per-frame means.
    present = [t.frames[(t.frames >= start) & (t.frames <= end)] for v in views for t in v]
    frames = np.unique(np.concatenate([np.zeros(0, np.int64), *present])).astype(np.int64)
    per_view = [_view_frames(g, p, frames) for g, p in views]
    prec = np.zeros(n)
    rec = np.zeros(n)
    missed = fp = mme = bbx = 0
    nv = len(per_view)
    for k, frame in enumerate(frames.tolist()):
        f = frame - start
        vf = [v[k] for v in per_view]
        tp = rec_den = prec_den = 0
        for i in range(nv):
            for j in range(i + 1, nv):
                a, b = vf[i], vf[j]
                if not b.gt:
                    prec_den += len(b.pr)
                    continue
                if not a.gt:
                    prec_den += len(a.pr)
                    continue
                t, rd, pd_, m, x, e, nb = _pair(a, b, scalar_quirk)
                tp, rec_den, prec_den = tp + t, rec_den + rd, prec_den + pd_
                missed, fp, mme, bbx = missed + m, fp + x, mme + e, bbx + nb
        prec[f] = tp / prec_den if prec_den else 0.0
        rec[f] = tp / rec_den if rec_den else 0.0
    return CrossViewCounts(prec, rec, missed, fp, mme, bbx)
